"""What the XSS corpus tests look for in a rendered page: markup the corpus could have injected (on
the page, and inside a sandboxed message body frame)."""

# Elements and attributes none of the portal's own pages put inside <main>: finding one there means
# a vector was rendered as markup rather than as text.
INJECTED_SELECTORS = (
    "[onerror]",
    "[onload]",
    "[onfocus]",
    "[ontoggle]",
    "[onbegin]",
    "[onstart]",
    "img",
    "svg:not(.chart-svg)",  # the dashboards draw their charts as the portal's own <svg class="chart-svg">
    "iframe",
    "object",
    "embed",
    "video",
    "audio",
    "marquee",
    "math",
    "textarea",
    "keygen",
    "isindex",
    "xmp",
    "template",
    "meta",
    "base",
    "link",
    "style",
    "script:not([src])",
    "a[href^='javascript']",
    "form[action^='javascript']",
    # the portal's own folding search panel, and a chart's "Show data", are <details> of known classes
    "details:not(.search-panel):not(.chart-data)",
)
INJECTED = ", ".join(f"main {sel}" for sel in INJECTED_SELECTORS)
FRAME_INJECTED = (
    "script, iframe, object, embed, svg, math, form, base, meta[http-equiv], link, style, [onerror], [onload], "
    "[onfocus], [ontoggle], [onbegin], [onstart], a[href^='javascript'], a[href^='data']"
)
