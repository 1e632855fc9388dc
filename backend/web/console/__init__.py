"""The representative console and the site owner's admin pages, under ``/console``.

Pages are jinja2 (autoescaped) with small static scripts; every page sends a strict
Content-Security-Policy, so there is no inline script or style anywhere.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route, WebSocketRoute

from backend.config import Settings
from backend.web.console import (
    accreditations_page as accr, admin, applications_page as apps, keys_page, material_report_page, materials_page,
    records_page, reports_page,
)
from backend.web.console import leads_page, practices_page, webhooks_page
from backend.web.console.join_page import join, join_form
from backend.web.console.profile_page import own_profile, save_own_profile
from backend.web.console.routes import login, login_form, logout, switch_site, visitor_history, workspace
from backend.web.console.web import STATIC
from backend.web.console.ws import console_ws
from backend.web.widget_assets import Revalidated

COOKIE = "beckon_session"
SESSION_MAX_AGE_S = 12 * 3600  # one long shift; then log in again


def mount(settings: Settings) -> Mount:
    """The console under /console, with the session middleware on these routes only: the
    collector's hot path never pays for it, and the cookie's path keeps it off other requests."""
    return Mount("/console", routes=_routes, middleware=[
        Middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie=COOKIE,
                   max_age=SESSION_MAX_AGE_S, same_site="lax", path="/console",
                   https_only=settings.public_url.startswith("https:"))])


_routes = [
        Route("/", workspace, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/site", switch_site, methods=["POST"]),
        Route("/visitors/{vid}", visitor_history, methods=["GET"]),
        Route("/profile", own_profile, methods=["GET"]),
        Route("/profile", save_own_profile, methods=["POST"]),
        Route("/accreditations", accr.accreditations_home, methods=["GET"]),
        Route("/accreditations/{tid}", accr.take_form, methods=["GET"]),
        Route("/accreditations/{tid}", accr.take_submit, methods=["POST"]),
        Route("/reports", reports_page.reports_home, methods=["GET"]),
        Route("/materials", materials_page.library, methods=["GET"]),
        Route("/materials/report", material_report_page.material_report, methods=["GET"]),
        Route("/materials/report.csv", material_report_page.material_report_csv, methods=["GET"]),
        Route("/materials", materials_page.create, methods=["POST"]),
        Route("/materials/document", materials_page.upload, methods=["POST"]),
        Route("/materials/{mid}/archive", materials_page.archive, methods=["POST"]),
        Route("/admin/materials", materials_page.library, methods=["GET"]),
        Route("/media/{site}/{mid}", materials_page.media, methods=["GET"]),
        Route("/reports/{name}.csv", reports_page.report_csv, methods=["GET"]),
        Route("/join/{site}", join_form, methods=["GET"]),
        Route("/join/{site}", join, methods=["POST"]),
        WebSocketRoute("/ws", console_ws),
        Route("/admin/", admin.admin_index, methods=["GET"]),
        Route("/admin/site", admin.site_settings, methods=["GET"]),
        Route("/admin/site", admin.save_site, methods=["POST"]),
        Route("/admin/rules", admin.save_rules, methods=["POST"]),
        Route("/admin/matching", admin.save_matching, methods=["POST"]),
        Route("/admin/offer", admin.save_offer, methods=["POST"]),
        Route("/admin/identity", admin.save_identity, methods=["POST"]),
        Route("/admin/order-secret", admin.rotate_order_secret, methods=["POST"]),
        Route("/admin/reps", admin.reps_list, methods=["GET"]),
        Route("/admin/reps", admin.rep_create, methods=["POST"]),
        Route("/admin/reps/{rid}", admin.rep_edit, methods=["GET"]),
        Route("/admin/reps/{rid}", admin.rep_update, methods=["POST"]),
        Route("/admin/reps/{rid}/active", admin.rep_active, methods=["POST"]),
        Route("/admin/applications", apps.applications_list, methods=["GET"]),
        Route("/admin/applications/{aid}", apps.application_detail, methods=["GET"]),
        Route("/admin/applications/{aid}/check", apps.application_check, methods=["POST"]),
        Route("/admin/applications/{aid}/decide", apps.application_decide, methods=["POST"]),
        Route("/admin/accreditation-tests", accr.tests_list, methods=["GET"]),
        Route("/admin/accreditation-tests", accr.test_create, methods=["POST"]),
        Route("/admin/accreditation-tests/new", accr.test_new, methods=["GET"]),
        Route("/admin/accreditation-tests/{tid}", accr.test_edit, methods=["GET"]),
        Route("/admin/accreditation-tests/{tid}", accr.test_update, methods=["POST"]),
        Route("/admin/accreditation-tests/{tid}/delete", accr.test_delete, methods=["POST"]),
        Route("/admin/visitors", admin.visitors_page, methods=["GET"]),
        Route("/admin/visitors.json", admin.visitors_json, methods=["GET"]),
        Route("/admin/mail", admin.mail_page, methods=["GET"]),
        Route("/admin/mail/{letter}/resend", admin.mail_resend, methods=["POST"]),
        Route("/admin/webhooks", webhooks_page.webhooks_home, methods=["GET"]),
        Route("/admin/webhooks", webhooks_page.webhook_create, methods=["POST"]),
        Route("/admin/webhooks/resend", webhooks_page.webhook_resend, methods=["POST"]),
        Route("/admin/webhooks/{wid}", webhooks_page.webhook_update, methods=["POST"]),
        Route("/admin/webhooks/{wid}/delete", webhooks_page.webhook_delete, methods=["POST"]),
        Route("/admin/webhooks/{wid}/secret", webhooks_page.webhook_rotate, methods=["POST"]),
        Route("/admin/keys", keys_page.keys_list, methods=["GET"]),
        Route("/admin/keys", keys_page.key_create, methods=["POST"]),
        Route("/admin/keys/{kid}/revoke", keys_page.key_revoke, methods=["POST"]),
        Route("/admin/records", records_page.records_home, methods=["GET"]),
        Route("/admin/records/{kind}.csv", records_page.export, methods=["GET"]),
        Route("/admin/records/{kind}/preview", records_page.preview, methods=["POST"]),
        Route("/admin/records/imports/{iid}", records_page.progress, methods=["GET"]),
        Route("/admin/records/imports/{iid}", records_page.confirm, methods=["POST"]),
        Route("/admin/records/imports/{iid}/errors.csv", records_page.error_file, methods=["GET"]),
        Route("/admin/leads", leads_page.leads_home, methods=["GET"]),
        Route("/admin/leads.csv", leads_page.leads_csv, methods=["GET"]),
        Route("/admin/leads/territories", leads_page.routing_home, methods=["GET"]),
        Route("/admin/leads/territories", leads_page.territories_save, methods=["POST"]),
        Route("/admin/leads/settings", leads_page.settings_save, methods=["POST"]),
        Route("/admin/leads/{lid}", leads_page.lead_detail, methods=["GET"]),
        Route("/leads", leads_page.my_leads, methods=["GET"]),
        Route("/leads/alerts", leads_page.my_alerts, methods=["POST"]),
        Route("/chats/{chat_id}/practice", practices_page.mark_form, methods=["GET"]),
        Route("/chats/{chat_id}/practice", practices_page.mark, methods=["POST"]),
        Route("/practices", practices_page.training, methods=["GET"]),
        Route("/practices/{mid}/use", practices_page.use, methods=["POST"]),
        Route("/admin/practices", practices_page.review_list, methods=["GET"]),
        Route("/admin/practices/{mid}", practices_page.review_form, methods=["GET"]),
        Route("/admin/practices/{mid}", practices_page.review, methods=["POST"]),
        Mount("/static", Revalidated(directory=STATIC), name="console-static"),  # modules: no stale mix
]
