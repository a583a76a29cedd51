-- Run once by the postgres image, when its data volume is still empty
-- (/docker-entrypoint-initdb.d). One login role and one database per node; each node's role
-- owns its own database and cannot connect to the other's.
-- The passwords come from the postgres service's environment (psql's \getenv, PostgreSQL 15),
-- never from this file; a variable that is not set leaves :'…' unexpanded and stops the script.
\set ON_ERROR_STOP on
\getenv ggz_noord_password GGZ_NOORD_DB_PASSWORD
\getenv jeugdteam_west_password JEUGDTEAM_WEST_DB_PASSWORD

CREATE ROLE ggz_noord LOGIN PASSWORD :'ggz_noord_password';
CREATE DATABASE ggz_noord OWNER ggz_noord;
REVOKE ALL ON DATABASE ggz_noord FROM PUBLIC;

CREATE ROLE jeugdteam_west LOGIN PASSWORD :'jeugdteam_west_password';
CREATE DATABASE jeugdteam_west OWNER jeugdteam_west;
REVOKE ALL ON DATABASE jeugdteam_west FROM PUBLIC;
