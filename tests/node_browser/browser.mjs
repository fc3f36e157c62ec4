// Debian's Chromium, driven by playwright-core, as the tests' one way to open a page: every
// request that leaves this machine is aborted (and recorded), every console error and page
// error is recorded, so a test can insist on none.
import { chromium } from "playwright-core";

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  // without these Chromium calls home and, on a closed network, logs refused connections
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A fresh browser profile in ``userDataDir``, with the blocking and recording set up. */
export async function openBrowser(userDataDir) {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.STRIDEGRAPH_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: LAUNCH_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  const record = { blocked: [], consoleErrors: [], pageErrors: [] };
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (["http:", "https:", "ws:", "wss:"].includes(url.protocol) && !LOCAL_HOSTS.has(url.host.replace(/:\d+$/, ""))) {
      record.blocked.push(url.href);
      return route.abort("blockedbyclient");
    }
    return route.continue();
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") record.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => record.pageErrors.push(String(error)));
  return { context, page, record };
}

/** The tests read one JSON line from stdout. */
export function report(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}
