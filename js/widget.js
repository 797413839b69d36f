import { RouterRegistry } from "./router.js";
import { LiveView } from "./view.js";

// The anywidget entry point (anywidget >= 0.9 lifecycle): `initialize` runs once per model, `render` once
// per view (each notebook output showing the widget); each returns its cleanup, which anywidget calls when
// the model or the view goes away, or when hot reload (ANYWIDGET_HMR=1) swaps in a new module.

/** The comm routers of the model(s) this module instance serves; see RouterRegistry for why a registry. */
const routers = new RouterRegistry();

/**
 * Model-level setup: one `msg:custom` handler that routes the comm transport's messages to their views.
 * @param {{model: import("./router.js").CommModel}} ctx
 * @returns {() => void}
 */
function initialize({ model }) {
  return routers.attach(model);
}

/**
 * @param {{model: import("./view.js").ViewModel, el: HTMLElement}} ctx
 * @returns {() => void}
 */
function render({ model, el }) {
  const view = new LiveView(model, el, () => routers.shared());
  return () => view.close();
}

export default { initialize, render };
