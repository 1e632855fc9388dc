"""The demo shop: products, a quote form with validation, a contact form marked for Beckon, a
cart and a checkout page.

It runs on its own origin, as a customer's site would, and sends a strict
Content-Security-Policy so that the snippet is shown to work without inline scripts or styles.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from backend.config import Settings

HERE = Path(__file__).parent
PRODUCTS = [
    {"id": "kayak", "name": "Touring kayak", "price": 1299.0, "blurb": "Stable, fast, 5.2 m."},
    {"id": "paddle", "name": "Carbon paddle", "price": 249.0, "blurb": "Light and stiff."},
    {"id": "drysuit", "name": "Dry suit", "price": 899.0, "blurb": "Breathable, taped seams."},
]
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def page(request: Request, template: str, status: int = 200, **ctx: object) -> Response:
    settings: Settings = request.app.state.settings
    beckon = settings.public_url
    ws = beckon.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    html = env.get_template(template).render(
        site_key=settings.demo_site_key,
        beckon_url=beckon,
        products=PRODUCTS,
        request=request,
        **ctx,
    )
    csp = (
        f"default-src 'self'; script-src 'self' {beckon}; connect-src 'self' {beckon} {ws}; "
        f"style-src 'self'; img-src 'self' data: {beckon}; media-src 'self' {beckon}; object-src 'none'"
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": csp})


async def home(request: Request) -> Response:
    return page(request, "home.html")


async def product(request: Request) -> Response:
    item = next((p for p in PRODUCTS if p["id"] == request.path_params["pid"]), None)
    if item is None:
        return page(request, "notfound.html", status=404)
    return page(request, "product.html", product=item)


async def quote(request: Request) -> Response:
    errors: dict[str, str] = {}
    sent = False
    values = {"name": "", "email": "", "postcode": "", "boats": ""}
    if request.method == "POST":
        form = await request.form()
        values = {k: str(form.get(k, ""))[:200] for k in values}
        if not values["name"].strip():
            errors["name"] = "Please tell us your name."
        if "@" not in values["email"]:
            errors["email"] = "That does not look like an e-mail address."
        if not (values["postcode"].isdigit() and len(values["postcode"]) == 5):
            errors["postcode"] = "A postcode has five digits."
        sent = not errors
    return page(request, "quote.html", errors=errors, values=values, sent=sent)


async def contact(request: Request) -> Response:
    """A form marked data-beckon-form="contact": the shop keeps its copy (here: none)."""
    return page(request, "contact.html", sent=request.method == "POST")


async def newsletter(request: Request) -> Response:
    return page(request, "newsletter.html")


async def cart(request: Request) -> Response:
    return page(request, "cart.html")


async def checkout(request: Request) -> Response:
    return page(request, "checkout.html")


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(settings: Settings | None = None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/product/{pid}", product),
            Route("/quote", quote, methods=["GET", "POST"]),
            Route("/cart", cart),
            Route("/newsletter", newsletter),
            Route("/contact", contact, methods=["GET", "POST"]),
            Route("/checkout", checkout),
            Route("/healthz", health),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
    app.state.settings = settings or Settings.from_env()
    return app
