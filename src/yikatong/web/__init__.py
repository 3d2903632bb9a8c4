"""Server-rendered pages (Jinja2 + HTMX): resident portal, staff console, kiosk, dashboard."""
