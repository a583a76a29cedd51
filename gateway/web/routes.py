"""The pages' blueprint tree, built once per process: ``web`` with ``prof`` and ``privacy`` inside.

Nesting makes the parent's gate (idle timeout, CSRF, headers, error pages) apply to every
page; Flask allows nesting only before the parent is first registered, hence a module.
"""

from __future__ import annotations

from gateway.web import pages_privacy, pages_professional, pages_push, views

_ = pages_push  # its routes hang on pages_professional.bp

views.bp.register_blueprint(pages_professional.bp)
views.bp.register_blueprint(pages_privacy.bp)
bp = views.bp
