"""A self-contained interactive attention page: inline SVG and script, no network needed.

Tokens stand in two columns; a line from a token on the left (the [MASK] at that position)
to a token on the right is as opaque as the attention weight. Hover a token to see only its
row; buttons switch heads. bertviz and circuitsvis load their JavaScript from public CDNs,
so their pages stay blank offline; this one does not.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
 body { font-family: sans-serif; margin: 1.5em; color: #222; }
 .sentence { margin-bottom: 2.5em; }
 button { margin-right: .3em; padding: .2em .7em; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
 button.active { background: #3b6ea8; color: white; }
 text { font-size: 14px; cursor: default; }
 text.unk { fill: #b00; font-style: italic; }
 text.hl { font-weight: bold; }
 .pred { font-size: 12px; color: #555; }
</style></head>
<body>
<h2>__TITLE__</h2>
<p>__INTRO__ Line opacity = attention weight. Hover a word on the left to see only its row; choose a
head with the buttons (or the layer and head selectors).
Words in <span style="color:#b00;font-style:italic">red italics</span> are unknown to the tokenizer ([UNK]).</p>
<div id="views"></div>
<script>
const DATA = __DATA__;
const ROW = 22, WIDTH = 460;
function draw(view, sentence) {
  const svgNS = "http://www.w3.org/2000/svg";
  const head = Number(view.dataset.head || 0);
  const focus = view.dataset.focus === undefined ? -1 : Number(view.dataset.focus);
  const svg = view.querySelector("svg");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const T = sentence.tokens.length, W = sentence.weights[head];
  svg.setAttribute("width", WIDTH); svg.setAttribute("height", ROW * T + 10);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
    const line = document.createElementNS(svgNS, "line");
    line.setAttribute("x1", 150); line.setAttribute("y1", ROW * i + 16);
    line.setAttribute("x2", WIDTH - 150); line.setAttribute("y2", ROW * j + 16);
    const shown = focus < 0 || focus === i;
    line.setAttribute("stroke", "#3b6ea8"); line.setAttribute("stroke-width", 2);
    line.setAttribute("stroke-opacity", shown ? W[i][j] : 0);
    line.setAttribute("class", "attn"); line.dataset.weight = W[i][j];
    svg.appendChild(line);
  }
  (sentence.gold_heads || []).forEach((h, i) => {  // a CoNLL-U input: each word's gold head, red dashed
    if (h < 0 || h >= T || view.dataset.gold === "off" || (focus >= 0 && focus !== i)) return;
    const arc = document.createElementNS(svgNS, "line");
    arc.setAttribute("x1", 150); arc.setAttribute("y1", ROW * i + 16);
    arc.setAttribute("x2", WIDTH - 150); arc.setAttribute("y2", ROW * h + 16);
    arc.setAttribute("stroke", "#c00"); arc.setAttribute("stroke-width", 1.5);
    arc.setAttribute("stroke-dasharray", "5 3"); arc.setAttribute("class", "gold");
    svg.appendChild(arc);
  });
  sentence.tokens.forEach((tok, k) => {
    for (const side of ["left", "right"]) {
      const t = document.createElementNS(svgNS, "text");
      t.setAttribute("x", side === "left" ? 140 : WIDTH - 140);
      t.setAttribute("y", ROW * k + 20);
      t.setAttribute("text-anchor", side === "left" ? "end" : "start");
      t.textContent = tok;
      const cls = (sentence.unknown[k] ? "unk " : "") + (focus === k && side === "left" ? "hl" : "");
      if (cls.trim()) t.setAttribute("class", cls.trim());
      if (side === "left") {
        t.addEventListener("mouseenter", () => { view.dataset.focus = k; draw(view, sentence); });
        t.addEventListener("mouseleave", () => { delete view.dataset.focus; draw(view, sentence); });
      }
      svg.appendChild(t);
    }
  });
  view.querySelectorAll("button").forEach((b, h) => b.classList.toggle("active", h === head));
}
DATA.sentences.forEach((sentence, n) => {
  const view = document.createElement("div");
  view.className = "sentence"; view.id = "sentence" + n; view.dataset.head = 0;
  const h = document.createElement("h3"); h.textContent = sentence.text; view.appendChild(h);
  const p = document.createElement("p"); p.className = "pred";
  p.textContent = sentence.tokens.map((t, k) => sentence.predictions[k] === null ? t : t + ": " + sentence.predictions[k]).join("  ·  ");
  view.appendChild(p);
  const bar = document.createElement("div");
  if (sentence.layers) {  // a deep model: a layer and a head selector (head k = layer * H + head)
    const perLayer = sentence.weights.length / sentence.layers;
    const choose = (name, count) => {
      const select = document.createElement("select"); select.className = name;
      for (let k = 0; k < count; k++) {
        const option = document.createElement("option"); option.value = k; option.textContent = name + " " + k;
        select.appendChild(option);
      }
      bar.append(name + " ", select, " ");
      return select;
    };
    const layer = choose("layer", sentence.layers), head = choose("head", perLayer);
    const update = () => {
      view.dataset.head = Number(layer.value) * perLayer + Number(head.value); draw(view, sentence);
    };
    layer.addEventListener("change", update); head.addEventListener("change", update);
  } else {
    sentence.weights.forEach((_, head) => {
      const b = document.createElement("button");
      b.textContent = sentence.head_names ? sentence.head_names[head] : "head " + head;
      b.addEventListener("click", () => { view.dataset.head = head; draw(view, sentence); });
      bar.appendChild(b);
    });
  }
  if (sentence.gold_heads) {  // the gold tree's arcs on or off
    const label = document.createElement("label"), box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.className = "gold";
    box.addEventListener("change", () => { view.dataset.gold = box.checked ? "on" : "off"; draw(view, sentence); });
    label.append(" ", box, " gold heads (red dashed: each word's head in the treebank)");
    bar.appendChild(label);
  }
  view.appendChild(bar);
  view.appendChild(document.createElementNS("http://www.w3.org/2000/svg", "svg"));
  document.getElementById("views").appendChild(view);
  draw(view, sentence);
});
document.body.dataset.drawn = String(document.querySelectorAll("line.attn").length);
document.body.dataset.gold = String(document.querySelectorAll("line.gold").length);
</script></body></html>
"""


PLACEHOLDER = re.compile("__TITLE__|__DATA__|__INTRO__")
MASK_INTRO = "Left column: the word replaced by [MASK]; right column: the words it attends to."


def write_html(path: Path, sentences: list[dict], title: str = "Attention of the [MASK]",
               intro: str = MASK_INTRO) -> Path:
    """``sentences``: dicts with tokens, unknown (bools), predictions (str), weights [H][T][T]; with
    ``layers`` (L), the H heads are L layers' heads in order and the page offers a layer and a
    head selector instead of one button per head; with ``gold_heads`` (a head index per word, -1
    the root) each word's gold arc is drawn too, with a checkbox to hide them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(sentences, title, intro), encoding="utf-8")
    return path


def render_page(sentences: list[dict], title: str, intro: str = MASK_INTRO) -> str:
    """The page, with both placeholders filled in one pass (text from one is never read as the
    other) and the data as JSON in which no '<', '>' or '&' can end the script or open a comment."""
    data = json.dumps({"sentences": sentences})
    for char in "<>&":
        data = data.replace(char, f"\\u{ord(char):04x}")
    values = {"__TITLE__": html.escape(title), "__DATA__": data, "__INTRO__": html.escape(intro)}
    return PLACEHOLDER.sub(lambda match: values[match[0]], PAGE)
