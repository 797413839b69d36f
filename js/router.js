// The model-level side of the comm transport: no DOM, no timers, so node tests it with a fake model.
//
// anywidget delivers every custom message of a widget to every `msg:custom` handler registered on its model.
// With one handler per view, each view filtered every frame meant for every other view (n views: n^2 calls per
// round). Instead `initialize` gives each model ONE handler, which hands a message only to the view it names
// (`msg.view`, docs/protocol.md), in a map lookup.

/**
 * The part of an anywidget model the router needs (the standalone page's stand-in has no `send`).
 * @typedef {object} CommModel
 * @property {(name: string, callback: (...args: any[]) => void) => void} on
 * @property {(name: string, callback: (...args: any[]) => void) => void} off
 * @property {(content: Record<string, unknown>, callbacks?: unknown, buffers?: ArrayBuffer[]) => void} [send]
 */

/**
 * What a view's comm connection does with a message addressed to it: the message's content and its binary
 * buffers (DataViews, as anywidget hands them over).
 * @typedef {(msg: Record<string, any>, buffers: DataView[]) => void} RouteHandler
 */

/** Routes a model's custom messages to the views that opened a comm connection, by view id. */
export class CommRouter {
  /** @param {CommModel} model */
  constructor(model) {
    this._model = model;
    /** @type {Map<string, RouteHandler>} */
    this._routes = new Map();
    this._closed = false;
    /** The one `msg:custom` handler; kept so `close()` removes exactly it. */
    this._onMessage = (/** @type {any} */ msg, /** @type {DataView[]} */ buffers) => this.dispatch(msg, buffers);
    model.on("msg:custom", this._onMessage);
  }

  /** @returns {number} how many views are registered (for tests and debugging) */
  get size() {
    return this._routes.size;
  }

  /**
   * A view id no other view of this model (in this page or any other page on the same kernel) uses: the
   * kernel keeps one stream per id, and every page of the model receives every message.
   * @returns {string}
   */
  newViewId() {
    let id;
    do id = `v${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    while (this._routes.has(id));
    return id;
  }

  /**
   * Deliver the messages addressed to `view` to `handler` until the returned function is called.
   * @param {string} view @param {RouteHandler} handler
   * @returns {() => void} unregister (only this registration: a later one under the same id stays)
   */
  route(view, handler) {
    if (this._closed) return () => {};
    this._routes.set(view, handler);
    return () => {
      if (this._routes.get(view) === handler) this._routes.delete(view);
    };
  }

  /**
   * One custom message from the kernel: to its view, or nowhere (another page's view, or one already gone).
   * @param {unknown} msg @param {DataView[] | undefined} buffers
   */
  dispatch(msg, buffers) {
    if (this._closed || msg === null || typeof msg !== "object") return;
    const view = /** @type {Record<string, unknown>} */ (msg).view;
    if (typeof view !== "string") return;
    this._routes.get(view)?.(/** @type {Record<string, any>} */ (msg), buffers ?? []);
  }

  /**
   * @param {Record<string, unknown>} content a message to the kernel
   * @param {ArrayBuffer[]} [buffers] binary parts (a camera frame)
   */
  send(content, buffers) {
    if (this._closed) return;
    if (buffers?.length) this._model.send?.(content, undefined, buffers);
    else this._model.send?.(content);
  }

  /** Stop routing: the model is going away (or anywidget reloads the module). */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._model.off("msg:custom", this._onMessage);
    this._routes.clear();
  }
}

/**
 * The routers `initialize` made, for `render` to find.
 *
 * anywidget gives `initialize` and each `render` a different proxy object of the same model, so a view cannot
 * look its router up by model. It does not need to: anywidget imports `_esm` afresh for each model (a new
 * `blob:` URL each time), so the routers attached to one instance of this module are those of one model. A
 * host that shares one module instance between models (nothing requires it not to) would attach several:
 * then no view can tell which is its own, and each view uses a router of its own, which is correct, only
 * with one handler per view as before.
 */
export class RouterRegistry {
  constructor() {
    /** @type {Set<CommRouter>} */
    this._routers = new Set();
  }

  /**
   * The model-level setup (`initialize`): one router for the model, if it can send at all.
   * @param {CommModel} model
   * @returns {() => void} cleanup, for anywidget to call when the model goes away or the module reloads
   */
  attach(model) {
    if (typeof model.send !== "function") return () => {}; // a read-only model has no comm transport
    const router = new CommRouter(model);
    this._routers.add(router);
    return () => {
      this._routers.delete(router);
      router.close();
    };
  }

  /** @returns {CommRouter | null} the model's router, or null when there is none or no telling which */
  shared() {
    if (this._routers.size !== 1) return null;
    return this._routers.values().next().value ?? null;
  }
}
