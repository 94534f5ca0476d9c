// The chat page in a real browser. Run by tests/test_serve_clients.c with
// BASE_URL (http://127.0.0.1:PORT) of a running `tinyllm serve`: headless
// Chromium (Debian's, $CHROMIUM, through playwright-core) loads the page,
// sends a message and waits for the streamed answer, then starts a long
// answer and stops it with the Stop button. One line per check, "done"
// last; exits 1 on the first failure.
// playwright-core is installed outside the tree, in $TINYLLM_NODE_PATH.
import { requirePackage } from "./common.mjs";
const { chromium } = requirePackage("playwright-core");

const base = process.env.BASE_URL;
if (!base) {
  console.error("page.mjs: set BASE_URL");
  process.exit(2);
}
const url = base + "/";
const model = (await (await fetch(base + "/v1/models")).json()).data[0].id;
const exe = process.env.CHROMIUM || "/usr/bin/chromium";

function check(ok, what) {
  console.log((ok ? "PASS " : "FAIL ") + what);
  if (!ok) throw Object.assign(new Error(what), { reported: true });
}

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox"] });
let failed = false;
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Chromium logs every non-2xx fetch as a console error; the page's
  // context-full retry makes one on purpose (errors it shows are checked
  // in the page instead).
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  // Offline: the page may fetch nothing but the server it came from.
  const foreign = [];
  const origin = new URL(url).origin;
  page.on("request", (r) => { if (!r.url().startsWith(origin)) foreign.push(r.url()); });

  await page.goto(url);
  await page.waitForFunction((m) => document.getElementById("model").textContent === m, model, { timeout: 20000 });
  check(true, "the page loads and names the model");

  // Greedy, a few tokens: one message gets its answer streamed into the page.
  await page.evaluate(() => { document.querySelector("details").open = true; });
  await page.fill("#temperature", "0");
  await page.fill("#max_tokens", "24");
  await page.fill("#input", "Once upon a time");
  await page.press("#input", "Enter");
  await page.waitForSelector(".msg.user");
  await page.waitForFunction(() => !document.body.dataset.busy && document.querySelector(".msg.assistant"),
                             null, { timeout: 60000 });
  const answer = await page.textContent(".msg.assistant .text");
  check(answer.length > 0, `a message gets an answer (${JSON.stringify(answer.slice(0, 40))}...)`);
  const stats = await page.textContent("#stats");
  check(/\d+ prompt \+ \d+ tokens/.test(stats) && /t\/s/.test(stats), `speed and token counts shown (${stats})`);
  const errs0 = await page.$$eval(".msg.error .text", (l) => l.map((e) => e.textContent));
  check(errs0.length === 0, "no error shown" + (errs0.length ? `: ${errs0[0]}` : ""));

  // Stop: a long answer, stopped as soon as its first piece shows. A tiny
  // model may finish first; either way the page is idle afterwards and the
  // next message is answered.
  await page.fill("#max_tokens", "100000");
  await page.fill("#temperature", "1");
  await page.fill("#input", "Tell me a long story");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant").length === 2, null, { timeout: 20000 });
  const stopped = await page.evaluate(async () => {
    const stop = document.getElementById("stop");
    for (let i = 0; i < 2000 && stop.disabled && document.body.dataset.busy; i++) await new Promise((r) => setTimeout(r, 5));
    if (stop.disabled) return false;
    stop.click();
    return true;
  });
  await page.waitForFunction(() => !document.body.dataset.busy, null, { timeout: 30000 });
  check(true, stopped ? "Stop ends a streaming answer" : "the answer ended before Stop could be pressed");
  check(await page.isEnabled("#send") && await page.isDisabled("#stop"), "after Stop: Send enabled, Stop disabled");

  await page.fill("#max_tokens", "8");
  await page.fill("#input", "And then?");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant").length === 3, null, { timeout: 20000 });
  await page.waitForFunction(() => !document.body.dataset.busy, null, { timeout: 60000 });
  const errs = await page.$$eval(".msg.error .text", (l) => l.map((e) => e.textContent));
  check(errs.length === 0, "the next message is answered after a stop (older turns dropped when the context is full)" +
        (errs.length ? `: ${errs[0]}` : ""));

  check(foreign.length === 0, "the page fetches nothing from elsewhere" + (foreign.length ? `: ${foreign[0]}` : ""));
  check(errors.length === 0, "no script errors" + (errors.length ? `: ${errors[0]}` : ""));
} catch (e) {
  failed = true;
  if (!e.reported) console.log("FAIL " + e.message.split("\n")[0]);
} finally {
  await browser.close();
}
if (!failed) console.log("done");
process.exit(failed ? 1 : 0);
