// A browser driven over WebDriver BiDi (puppeteer-core), for the engine tests in tests/engines/.
//
//   node js/engines/bidi.js            reads one JSON command per line on stdin, answers one JSON line each
//
// The first command is {"op": "launch", "browser": "firefox", "executable": "/usr/bin/firefox-esr"}; then
// goto / eval / move / down / up / click / key / screenshot / console, and "close" (or stdin's end, so the
// browser never outlives the test that started it). Each answer is {"id", "ok": true, "value"} or
// {"id", "ok": false, "error"}. Nothing is downloaded: puppeteer-core only runs the executable it is given.
// This file is a test driver, not part of the widget: js/widget.js does not reach it, so it is not shipped.

import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

/** @type {import("puppeteer-core").Browser | null} */
let browser = null;
/** @type {import("puppeteer-core").Page | null} */
let page = null;
/** @type {string[]} */
const consoleLines = [];

/** @param {Record<string, unknown>} message */
function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** @returns {import("puppeteer-core").Page} */
function thePage() {
  if (!page) throw new Error("no page: send launch first");
  return page;
}

const ops = {
  /** @param {any} cmd */
  async launch(cmd) {
    browser = await puppeteer.launch({
      browser: cmd.browser ?? "firefox",
      executablePath: cmd.executable,
      headless: true,
      args: cmd.args ?? [],
      extraPrefsFirefox: cmd.prefs ?? {},
      defaultViewport: { width: cmd.width ?? 1024, height: cmd.height ?? 768 },
      protocolTimeout: 60_000,
    });
    const pages = await browser.pages();
    page = pages[0] ?? (await browser.newPage());
    await page.setViewport({ width: cmd.width ?? 1024, height: cmd.height ?? 768 });
    page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    // Leaving a notebook with unsaved outputs asks "leave the page?": yes (anything else: no).
    page.on("dialog", (d) => void (d.type() === "beforeunload" ? d.accept() : d.dismiss()).catch(() => {}));
    page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e instanceof Error ? e.message : e}`));
    // The browser runs in a process group of its own (puppeteer starts it detached): the test ends that
    // group too, should this driver die without closing it.
    const pid = browser.process()?.pid ?? null;
    return { version: await browser.version(), userAgent: await browser.userAgent(), pid };
  },
  /** @param {any} cmd */
  async goto(cmd) {
    await thePage().goto(cmd.url, { waitUntil: "load", timeout: (cmd.timeout ?? 60) * 1000 });
    return null;
  },
  /** The value of a JS expression evaluated in the page (awaited when it is a promise), as JSON. @param {any} cmd */
  async eval(cmd) {
    // Indirect eval: the expression runs in the page's global scope, like a <script>.
    return await thePage().evaluate((src) => (0, eval)(src), cmd.expr);
  },
  /** @param {any} cmd */
  async move(cmd) {
    await thePage().mouse.move(cmd.x, cmd.y, { steps: cmd.steps ?? 1 });
    return null;
  },
  /** @param {any} cmd */
  async down(cmd) {
    await thePage().mouse.down({ button: cmd.button ?? "left" });
    return null;
  },
  /** @param {any} cmd */
  async up(cmd) {
    await thePage().mouse.up({ button: cmd.button ?? "left" });
    return null;
  },
  /** @param {any} cmd */
  async click(cmd) {
    await thePage().mouse.click(cmd.x, cmd.y, { button: cmd.button ?? "left" });
    return null;
  },
  /** @param {any} cmd */
  async key(cmd) {
    await thePage().keyboard.press(cmd.key);
    return null;
  },
  /** @param {any} cmd */
  async screenshot(cmd) {
    await thePage().screenshot({ path: cmd.path });
    return cmd.path;
  },
  async console() {
    return consoleLines.splice(0);
  },
  async close() {
    const b = browser;
    browser = page = null;
    await b?.close();
    return null;
  },
};

async function main() {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    /** @type {any} */
    let cmd = {};
    try {
      cmd = JSON.parse(line);
      const op = /** @type {keyof typeof ops} */ (cmd.op);
      if (!(op in ops)) throw new Error(`unknown op ${cmd.op}`);
      answer({ id: cmd.id, ok: true, value: (await ops[op](cmd)) ?? null });
      if (op === "close") break;
    } catch (e) {
      answer({ id: cmd.id, ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  await ops.close().catch(() => {});
  process.exit(0);
}

await main();
