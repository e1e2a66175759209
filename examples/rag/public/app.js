// The page's only script: no framework, no build. Text from the server is always inserted as text nodes.
import { EventSourceParserStream } from "/vendor/eventsource-parser/stream.js";

const $ = (id) => document.getElementById(id);
const form = $("ask-form");
const errorBox = $("error");
const statusLine = $("status");
const answerBox = $("answer");
const passagesList = $("passages");

const el = (tag, props = {}, children = []) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

/** Highlighted runs from the server: `hit` runs are words of the question. */
function renderSegments(segments) {
  return segments.map((s) => (s.hit ? el("mark", { textContent: s.text }) : document.createTextNode(s.text)));
}

let passageCount = 0;

/** A citation [n] as a link to passage n (or flagged when the answer cites a passage that was not retrieved). */
function citation(n) {
  if (n >= 1 && n <= passageCount) {
    return el("a", { className: "cite", href: `#passage-${n}`, textContent: `[${n}]` });
  }
  return el("span", { className: "cite unknown", title: "no such passage", textContent: `[${n}?]` });
}

/** Answer text with every [n] / [n, m] turned into links. */
function renderWithCitations(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    nodes.push(document.createTextNode(text.slice(last, match.index)));
    for (const part of match[1].split(",")) nodes.push(citation(Number(part.trim())));
    last = match.index + match[0].length;
  }
  nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** What a score means per mode (lance-e5's search: cosine, BM25, the model's fusion of both: RRF or linear). */
const SCORE_NAMES = { vector: "cosine", fulltext: "BM25", hybrid: "fused" };

function renderPassages(data) {
  passageCount = data.passages.length;
  $("instruction").textContent = `Instruct: ${data.instruction} · mode ${data.mode} · ${data.retrieval_ms} ms`;
  passagesList.replaceChildren(
    ...data.passages.map((p) =>
      el("li", { id: `passage-${p.n}` }, [
        el("div", { className: "passage-head" }, [
          el("strong", { textContent: `[${p.n}] ` }),
          el("span", { className: "source", textContent: [p.source, p.title].filter(Boolean).join(" — ") }),
          el("span", { className: "score", textContent: ` · ${SCORE_NAMES[data.mode]} ${p.score.toFixed(4)}` }),
        ]),
        el("div", { className: "passage-text" }, renderSegments(p.segments)),
      ]),
    ),
  );
  $("passages-section").hidden = false;
  if (passageCount === 0) statusLine.textContent = "No passages found.";
}

/** Marks the passages the answer cites, so a reader sees which retrieved passages it rests on. */
function markCited(numbers) {
  for (const n of numbers) {
    const item = $(`passage-${n}`);
    if (item && !item.classList.contains("cited")) {
      item.classList.add("cited");
      item.querySelector(".passage-head").append(el("span", { className: "badge", textContent: "cited" }));
    }
  }
}

function renderExtractive(answer) {
  $("answer-kind").textContent = "(extractive: the best-matching sentences of the passages)";
  answerBox.replaceChildren(
    ...answer.sentences.map((s) => el("p", {}, [...renderSegments(s.segments), " ", citation(s.n)])),
  );
  $("answer-section").hidden = false;
  markCited(answer.sentences.map((s) => s.n));
}

async function ask(event) {
  event.preventDefault();
  errorBox.hidden = true;
  $("answer-section").hidden = true;
  $("passages-section").hidden = true;
  answerBox.replaceChildren();
  statusLine.textContent = "Retrieving…";
  $("ask").disabled = true;
  const body = { question: $("question").value, task: $("task").value, mode: $("mode").value, k: Number($("k").value) };
  let streamed = "";
  let finished = false;
  try {
    const response = await fetch("/api/ask", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const detail = await response.json().catch(() => ({}));
      showError(detail.error?.message ?? `HTTP ${response.status}`);
      statusLine.textContent = "";
      return;
    }
    const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    for await (const { event: name, data } of events) {
      const payload = JSON.parse(data);
      if (name === "passages") {
        renderPassages(payload);
        statusLine.textContent = "Answering…";
      } else if (name === "answer") {
        renderExtractive(payload);
      } else if (name === "token") {
        if (streamed === "") {
          $("answer-kind").textContent = "(streamed from the LLM)";
          $("answer-section").hidden = false;
        }
        streamed += payload.text;
        answerBox.replaceChildren(...renderWithCitations(streamed));
      } else if (name === "done") {
        finished = true;
        markCited(payload.cited ?? []);
        const unknown = payload.unknown?.length ? ` · cites passages that were not retrieved: ${payload.unknown}` : "";
        const cut = payload.finish_reason === "length" ? " · cut off by the model's length limit" : "";
        statusLine.textContent = `Done${payload.model ? ` (${payload.model})` : ""}${cut}${unknown}`;
      } else if (name === "error") {
        finished = true;
        showError(`The answer failed: ${payload.message}`);
        statusLine.textContent = "";
      }
    }
    if (!finished) showError("The answer stream ended unexpectedly (the server went away?)");
  } catch (error) {
    showError(`Request failed: ${error.message}`);
    statusLine.textContent = "";
  } finally {
    $("ask").disabled = false;
  }
}

async function init() {
  const response = await fetch("/api/config");
  const config = await response.json();
  const task = $("task");
  for (const { name, instruction } of config.tasks)
    task.append(el("option", { value: name, textContent: name, title: instruction }));
  task.value = config.defaults.task;
  const mode = $("mode");
  for (const name of config.modes) mode.append(el("option", { value: name, textContent: name }));
  mode.value = config.defaults.mode;
  $("k").value = String(config.defaults.k);
  $("k").max = String(config.max_k);
  const answerer =
    config.answerer.kind === "llm" ? `answers by ${config.answerer.model}` : "extractive answers (no LLM)";
  $("about").textContent = `${config.corpus.name}: ${config.corpus.chunks} chunks · ${answerer}`;
  form.addEventListener("submit", ask);
  form.dataset.ready = "true";
}

init().catch((error) => showError(`Could not load the app's settings: ${error.message}`));
