import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.ts";
import { type RunningApp, startAppProcess, TEST_OUTPUT_DIR, tempDir } from "./helpers.ts";

/**
 * End to end in a real browser: the app runs as `npm start` runs it (its own process: ingest the sample corpus
 * with the shipped default model, then serve), and headless Chromium (Debian's, driven by playwright-core) uses the
 * page like a person. Screenshots land in examples/rag/test-output/.
 */

const FOUR_FREEDOMS = "What are the four essential human freedoms?";
const STREAMED = "The four freedoms are freedom of speech and worship, and freedom from want and fear [1][2].";

let work: Awaited<ReturnType<typeof tempDir>>;
let browser: BrowserContext;
let fake: FakeOpenAI;
let offline: RunningApp;
let withLlm: RunningApp;

/** Launch options as ENVIRONMENT.md says: Debian's binary, no network chatter, a fresh profile. */
async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  const executablePath = execFileSync("which", ["chromium"], { encoding: "utf8" }).trim();
  return chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1100, height: 1400 },
  });
}

before(async () => {
  work = await tempDir();
  mkdirSync(TEST_OUTPUT_DIR, { recursive: true });
  const db = path.join(work.dir, "lancedb");
  // Sequential: the second start finds the table ingested (nothing re-embedded) — the restart path users hit.
  offline = await startAppProcess(["--db", db]);
  fake = await startFakeOpenAI();
  withLlm = await startAppProcess(["--db", db, "--llm-base-url", fake.baseUrl, "--llm-model", "fake-chat"], {
    LANCE_E5_LLM_API_KEY: "sk-browser",
  });
  browser = await launchChromium(path.join(work.dir, "chromium-profile"));
});

after(async () => {
  await browser?.close();
  await offline?.stop();
  await withLlm?.stop();
  await fake?.close();
  await work?.cleanup();
});

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector("form[data-ready=true]");
  return page;
}

async function askOnPage(page: Page, question: string, choices: { task?: string; mode?: string } = {}) {
  await page.fill("#question", question);
  if (choices.task) await page.selectOption("#task", choices.task);
  if (choices.mode) await page.selectOption("#mode", choices.mode);
  await page.click("#ask");
}

const sourcesOn = (page: Page) => page.locator("#passages li .source").allTextContents();
const textOf = async (page: Page, selector: string) => (await page.textContent(selector)) ?? "";

describe("the page in headless Chromium", () => {
  test("the second start re-embedded nothing (ingest is idempotent)", () => {
    assert.match(offline.output(), /corpus: 30 file\(s\), \d+ chunks \(\d+ new/);
    assert.match(withLlm.output(), /corpus: 30 file\(s\), \d+ chunks \(0 new, 0 updated, 0 deleted\)/);
  });

  test("offline: a question gets cited passages from the sample corpus and an extractive answer", async () => {
    const page = await openPage(offline.url);
    assert.match(await textOf(page, "#about"), /sotu: \d+ chunks · extractive answers/);
    assert.equal(await page.inputValue("#task"), "question");
    assert.equal(await page.inputValue("#mode"), "hybrid");
    await askOnPage(page, FOUR_FREEDOMS);
    await page.waitForSelector("#answer p");
    await page.waitForFunction(() => document.querySelector("#status")?.textContent?.startsWith("Done"));

    const sources = await sourcesOn(page);
    assert.equal(sources.length, 5);
    assert.ok(
      sources.includes("1941-franklin-d-roosevelt.md — 1941 State of the Union — Franklin D Roosevelt (excerpt)"),
      sources.join("\n"),
    );
    const scores = await page.locator("#passages li .score").allTextContents();
    // Hybrid scores are the model's fusion (the shipped model: linear min-max fusion, in [0, 1]).
    for (const score of scores) assert.match(score, /^ · fused (0|1)\.\d{4}$/);
    assert.match(await textOf(page, "#instruction"), /Instruct: Given a question, retrieve Wikipedia passages/);

    // The answer quotes the passage, marks the question's words and links each sentence to its passage.
    assert.match(await textOf(page, "#answer"), /four essential human freedoms/);
    const marked = await page.locator("#answer mark").allTextContents();
    assert.ok(marked.map((m) => m.toLowerCase()).includes("freedoms"), marked.join(","));
    const firstCite = page.locator("#answer a.cite").first();
    const href = await firstCite.getAttribute("href");
    assert.match(href ?? "", /^#passage-[1-5]$/);
    await firstCite.click();
    assert.ok(page.url().endsWith(href!));
    assert.equal(await page.locator(`${href}.cited .source`).count(), 1);
    assert.equal(await page.isHidden("#error"), true);
    await page.screenshot({ path: path.join(TEST_OUTPUT_DIR, "extractive.png"), fullPage: true });

    // The pickers change what is sent: full-text search with another task's instruction.
    await askOnPage(page, "payment to Russia for Alaska", { task: "web_search", mode: "fulltext" });
    await page.waitForFunction(() => document.querySelector("#instruction")?.textContent?.includes("mode fulltext"));
    assert.match(await textOf(page, "#instruction"), /Given a web search query/);
    assert.match((await sourcesOn(page))[0] ?? "", /^1867-andrew-johnson\.md/);
    await page.close();
  });

  test("with an LLM: the answer streams in, its [n] citations link to the retrieved passages", async () => {
    fake.push({ content: STREAMED, chunkDelayMs: 20 });
    const page = await openPage(withLlm.url);
    assert.match(await textOf(page, "#about"), /answers by fake-chat/);
    await askOnPage(page, FOUR_FREEDOMS);
    await page.waitForFunction(() => document.querySelector("#status")?.textContent?.startsWith("Done (fake-chat)"));

    assert.equal(await textOf(page, "#answer"), STREAMED);
    assert.deepEqual(await page.locator("#answer a.cite").allTextContents(), ["[1]", "[2]"]);
    assert.deepEqual(
      await page.locator("#answer a.cite").evaluateAll((links) => links.map((a) => a.getAttribute("href"))),
      ["#passage-1", "#passage-2"],
    );
    assert.equal((await sourcesOn(page)).length, 5);
    assert.deepEqual(await page.locator("#passages li.cited").evaluateAll((items) => items.map((li) => li.id)), [
      "passage-1",
      "passage-2",
    ]);
    assert.equal(fake.requests.at(-1)?.headers.authorization, "Bearer sk-browser");
    assert.equal(await page.isHidden("#error"), true);
    await page.screenshot({ path: path.join(TEST_OUTPUT_DIR, "streamed.png"), fullPage: true });
    await page.close();
  });

  test("with an LLM that fails: the error is shown on the page, the passages stay", async () => {
    fake.push({ status: 500, body: { error: { message: "model overloaded" } } });
    const page = await openPage(withLlm.url);
    await askOnPage(page, FOUR_FREEDOMS);
    await page.waitForSelector("#error:not([hidden])");
    assert.equal(await textOf(page, "#error"), "The answer failed: LLM endpoint answered HTTP 500: model overloaded");
    assert.equal((await sourcesOn(page)).length, 5);
    await page.screenshot({ path: path.join(TEST_OUTPUT_DIR, "llm-error.png"), fullPage: true });

    // A bad request (empty question) is refused with the server's message.
    await askOnPage(page, "   ");
    await page.waitForFunction(() => document.querySelector("#error")?.textContent?.startsWith("question:"));
    assert.equal(await textOf(page, "#error"), "question: must be a non-empty string");
    await page.close();
  });
});
