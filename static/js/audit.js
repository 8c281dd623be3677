// Audit review. htmx copies "style" from old to new elements when it settles a swap; Chromium's
// autofill leaves an empty style attribute on the filter inputs, and re-applying it is an inline
// style our CSP refuses (a console error on every filter). The portal styles nothing inline, so
// there is nothing in "style" worth settling. (workspace.js does the same for its pages; the
// natural home for this is the htmx-config meta tag in base.html.)
if (window.htmx) {
  window.htmx.config.attributesToSettle = ["class", "width", "height"];
}
