/* Live explorers for the book: plain JavaScript and SVG, no libraries, no network, so they work
 * on the static site, offline and from file://. A page places one with
 *   <div class="cnn-explorer" data-explorer="conv"></div>   (or "pool", "receptive-field").
 * Each explorer writes what it computes into data-* attributes of its readout element
 * (data-output-size, data-output, ...), which tests/test_browser.py compares with the course's
 * Python. The arithmetic here follows the output-size formula of the padding chapter:
 *   n' = floor((n + 2p - d(k - 1) - 1) / s) + 1.
 */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var CELL = 26;
  var COLOURS = { input: "#dbe9f6", pad: "#eeeeee", tap: "#f4a259", output: "#c8e6c9", filled: "#43a047" };
  var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];

  /* Words in the page's language: the Chinese site has <html lang="zh-CN"> (autograder/site_languages.py).
   * t("input n") or t("stride {s}", {s: 2}): the English text is the key, {name} a value. */
  var ZH_CN = {
    "input n": "输入 n", "kernel k": "卷积核 k", "padding p": "填充 p", "stride s": "步幅 s", "dilation d": "膨胀 d",
    "window k": "窗口 k", "pool": "池化", "max": "最大", "average": "平均", "layers": "层数", "layer {n}": "第 {n} 层",
    "\u25c0 previous output": "\u25c0 上一个输出", "next output \u25b6": "下一个输出 \u25b6",
    "The window spans {span} pixels but the padded input has only {size}: no output. Use a smaller kernel or dilation, or more padding.":
      "窗口跨越 {span} 个像素, 但填充后的输入只有 {size} 个: 没有输出。请用更小的卷积核或膨胀, 或更多的填充。",
    ": output {out}\u00d7{out}. Output ({row}, {col}) reads the window at padded row {top}, column {left} and is {value}. Kernel {kernel}.":
      ": 输出 {out}\u00d7{out}。输出 ({row}, {col}) 读取填充后输入中第 {top} 行、第 {left} 列处的窗口, 其值为 {value}。卷积核 {kernel}。",
    "A {k}\u00d7{k} window does not fit in a {n}\u00d7{n} input: no output.": "{k}\u00d7{k} 的窗口放不进 {n}\u00d7{n} 的输入: 没有输出。",
    "{mode} pooling, {k}\u00d7{k} windows, stride {s}: a {n}\u00d7{n} input gives {out}\u00d7{out}. White cells are read by no window.":
      "{mode}池化, {k}\u00d7{k} 窗口, 步幅 {s}: {n}\u00d7{n} 的输入得到 {out}\u00d7{out} 的输出。白色单元不被任何窗口读取。",
    "Receptive field after each layer: {fields} input pixels; one step in the last layer moves {jump} input pixels.":
      "每层之后的感受野: {fields} 个输入像素; 最后一层移动一步对应输入移动 {jump} 个像素。",
    "layer {n}: {field} px": "第 {n} 层: {field} 像素",
    "receptive field widths, one bar per layer": "感受野宽度, 每层一条",
    "input with its pooling windows coloured, and the pooled output": "输入 (池化窗口着色) 和池化后的输出",
    "padded input with the window of output ({row}, {col}) and the output grid": "填充后的输入 (标出输出 ({row}, {col}) 的窗口) 和输出网格"
  };

  function t(text, values) {
    var chinese = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
    var chosen = chinese && ZH_CN.hasOwnProperty(text) ? ZH_CN[text] : text;
    return chosen.replace(/\{(\w+)\}/g, function (whole, key) { return values && key in values ? String(values[key]) : whole; });
  }

  function el(tag, attrs, parent, text) {
    var node = tag === "svg" || ["rect", "text", "line", "g"].indexOf(tag) >= 0
      ? document.createElementNS(SVG, tag) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /* A labelled slider; onChange runs on every move. */
  function slider(parent, name, label, min, max, value, onChange) {
    var wrap = el("label", { "class": "cnn-control" }, parent);
    el("span", {}, wrap, t(label) + " ");
    var input = el("input", { type: "range", name: name, min: min, max: max, step: 1, value: value }, wrap);
    var shown = el("output", {}, wrap, String(value));
    input.addEventListener("input", function () { shown.textContent = input.value; onChange(); });
    return input;
  }

  function num(input) { return parseInt(input.value, 10); }

  function windowStarts(n, k, p, s, d) {
    var span = d * (k - 1) + 1, starts = [];
    for (var t = 0; t + span <= n + 2 * p; t += s) starts.push(t);
    return starts;
  }

  function round(v) { return Math.round(v * 1e6) / 1e6; }

  function cell(svg, x, y, fill, text, extra) {
    var r = el("rect", { x: x, y: y, width: CELL, height: CELL, fill: fill, stroke: "#555", "stroke-width": 0.8 }, svg);
    Object.keys(extra || {}).forEach(function (key) { r.setAttribute(key, extra[key]); });
    if (text !== undefined && text !== "") {
      el("text", { x: x + CELL / 2, y: y + CELL / 2 + 4, "text-anchor": "middle", "font-size": 10 }, svg, text);
    }
    return r;
  }

  /* Convolution stepper: a fixed input and kernel, padding/stride/dilation controls, one output
   * position at a time with the window it reads. */
  function convExplorer(root) {
    var controls = el("div", { "class": "cnn-controls" }, root);
    var n = slider(controls, "n", "input n", 3, 9, 5, update);
    var k = slider(controls, "k", "kernel k", 1, 5, 3, update);
    var p = slider(controls, "padding", "padding p", 0, 3, 1, update);
    var s = slider(controls, "stride", "stride s", 1, 4, 2, update);
    var d = slider(controls, "dilation", "dilation d", 1, 3, 1, update);
    var buttons = el("div", { "class": "cnn-controls" }, root);
    var prev = el("button", { type: "button", name: "previous" }, buttons, t("\u25c0 previous output"));
    var next = el("button", { type: "button", name: "next" }, buttons, t("next output \u25b6"));
    var readout = el("p", { "class": "cnn-readout" }, root);
    var svg = el("svg", { "class": "cnn-svg", role: "img" }, root);
    var step = 0;
    prev.addEventListener("click", function () { step -= 1; update(); });
    next.addEventListener("click", function () { step += 1; update(); });

    function update() {
      var N = num(n), K = num(k), P = num(p), S = num(s), D = num(d);
      var x = [], w = [], i, j, a, b;
      for (i = 0; i < N; i++) { x.push([]); for (j = 0; j < N; j++) x[i].push((i * N + j) % 10); }
      for (a = 0; a < K; a++) { w.push([]); for (b = 0; b < K; b++) w[a].push(((a * K + b) % 3) - 1); }
      var starts = windowStarts(N, K, P, S, D), out = starts.length, size = N + 2 * P, span = D * (K - 1) + 1;
      readout.setAttribute("data-input", JSON.stringify(x));
      readout.setAttribute("data-kernel", JSON.stringify(w));
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      if (out === 0) {
        readout.setAttribute("data-output-size", "0");
        readout.setAttribute("data-output", "[]");
        readout.textContent = t("The window spans {span} pixels but the padded input has only {size}: no output. Use a smaller kernel or dilation, or more padding.", { span: span, size: size });
        svg.setAttribute("width", 0); svg.setAttribute("height", 0);
        return;
      }
      function padded(r, c) { r -= P; c -= P; return r >= 0 && r < N && c >= 0 && c < N ? x[r][c] : 0; }
      var y = [];
      for (i = 0; i < out; i++) {
        y.push([]);
        for (j = 0; j < out; j++) {
          var sum = 0;
          for (a = 0; a < K; a++) for (b = 0; b < K; b++) sum += w[a][b] * padded(starts[i] + a * D, starts[j] + b * D);
          y[i].push(sum);
        }
      }
      step = ((step % (out * out)) + out * out) % (out * out);
      var row = Math.floor(step / out), col = step % out, top = starts[row], left = starts[col];
      var taps = {};
      for (a = 0; a < K; a++) for (b = 0; b < K; b++) taps[(top + a * D) + "," + (left + b * D)] = true;
      for (i = 0; i < size; i++) {
        for (j = 0; j < size; j++) {
          var inside = i >= P && i < P + N && j >= P && j < P + N;
          cell(svg, j * CELL, i * CELL, taps[i + "," + j] ? COLOURS.tap : inside ? COLOURS.input : COLOURS.pad,
               inside ? String(x[i - P][j - P]) : "0", { "data-role": taps[i + "," + j] ? "tap" : inside ? "input" : "padding" });
        }
      }
      el("rect", { x: left * CELL, y: top * CELL, width: span * CELL, height: span * CELL, fill: "none", stroke: "#c0392b", "stroke-width": 2.5 }, svg);
      var x0 = (size + 1.5) * CELL, y0 = Math.max(0, (size - out) / 2) * CELL;
      for (i = 0; i < out; i++) {
        for (j = 0; j < out; j++) {
          var current = i === row && j === col;
          cell(svg, x0 + j * CELL, y0 + i * CELL, current ? COLOURS.filled : COLOURS.output, String(round(y[i][j])),
               { "data-role": current ? "current-output" : "output" });
        }
      }
      svg.setAttribute("width", x0 + out * CELL + 4);
      svg.setAttribute("height", Math.max(size, out) * CELL + 4);
      svg.setAttribute("aria-label", t("padded input with the window of output ({row}, {col}) and the output grid", { row: row, col: col }));
      readout.setAttribute("data-output-size", String(out));
      readout.setAttribute("data-output", JSON.stringify(y));
      readout.setAttribute("data-position", JSON.stringify([row, col]));
      readout.textContent = "\u230a(" + N + " + 2\u00b7" + P + " \u2212 " + D + "\u00b7(" + K + " \u2212 1) \u2212 1) / " + S + "\u230b + 1 = " + out +
        t(": output {out}\u00d7{out}. Output ({row}, {col}) reads the window at padded row {top}, column {left} and is {value}. Kernel {kernel}.",
          { out: out, row: row, col: col, top: top, left: left, value: round(y[row][col]), kernel: JSON.stringify(w) });
    }
    update();
  }

  /* Pooling: windows coloured on the input, each output cell in its window's colour. */
  function poolExplorer(root) {
    var controls = el("div", { "class": "cnn-controls" }, root);
    var n = slider(controls, "n", "input n", 2, 8, 6, update);
    var k = slider(controls, "k", "window k", 1, 4, 2, update);
    var s = slider(controls, "stride", "stride s", 1, 4, 2, update);
    var modeLabel = el("label", { "class": "cnn-control" }, controls);
    el("span", {}, modeLabel, t("pool") + " ");
    var mode = el("select", { name: "mode" }, modeLabel);
    el("option", { value: "max" }, mode, t("max"));
    el("option", { value: "average" }, mode, t("average"));
    mode.addEventListener("change", update);
    var readout = el("p", { "class": "cnn-readout" }, root);
    var svg = el("svg", { "class": "cnn-svg", role: "img" }, root);

    function update() {
      var N = num(n), K = num(k), S = num(s), i, j, a, b, x = [];
      for (i = 0; i < N; i++) { x.push([]); for (j = 0; j < N; j++) x[i].push((i * 7 + j * 3) % 10); }
      var starts = windowStarts(N, K, 0, S, 1), out = starts.length, y = [];
      readout.setAttribute("data-input", JSON.stringify(x));
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      if (out === 0) {
        readout.setAttribute("data-output-size", "0");
        readout.setAttribute("data-output", "[]");
        readout.textContent = t("A {k}\u00d7{k} window does not fit in a {n}\u00d7{n} input: no output.", { k: K, n: N });
        return;
      }
      var owner = [];
      for (i = 0; i < N; i++) { owner.push([]); for (j = 0; j < N; j++) owner[i].push(-1); }
      for (i = 0; i < out; i++) {
        y.push([]);
        for (j = 0; j < out; j++) {
          var best = -Infinity, sum = 0;
          for (a = 0; a < K; a++) for (b = 0; b < K; b++) {
            var v = x[starts[i] + a][starts[j] + b];
            best = Math.max(best, v); sum += v;
            if (owner[starts[i] + a][starts[j] + b] < 0) owner[starts[i] + a][starts[j] + b] = i * out + j;
          }
          y[i].push(mode.value === "max" ? best : sum / (K * K));
        }
      }
      for (i = 0; i < N; i++) for (j = 0; j < N; j++) {
        cell(svg, j * CELL, i * CELL, owner[i][j] < 0 ? "#ffffff" : PALETTE[owner[i][j] % PALETTE.length], String(x[i][j]),
             { "fill-opacity": 0.75 });
      }
      var x0 = (N + 1.5) * CELL, y0 = Math.max(0, (N - out) / 2) * CELL;
      for (i = 0; i < out; i++) for (j = 0; j < out; j++) {
        cell(svg, x0 + j * CELL, y0 + i * CELL, PALETTE[(i * out + j) % PALETTE.length], String(round(y[i][j])),
             { "fill-opacity": 0.75, "data-role": "output" });
      }
      svg.setAttribute("width", x0 + out * CELL + 4);
      svg.setAttribute("height", Math.max(N, out) * CELL + 4);
      svg.setAttribute("aria-label", t("input with its pooling windows coloured, and the pooled output"));
      readout.setAttribute("data-output-size", String(out));
      readout.setAttribute("data-output", JSON.stringify(y));
      readout.textContent = t("{mode} pooling, {k}\u00d7{k} windows, stride {s}: a {n}\u00d7{n} input gives {out}\u00d7{out}. White cells are read by no window.",
        { mode: t(mode.value), k: K, s: S, n: N, out: out });
    }
    update();
  }

  /* Receptive field through a stack of layers along one axis: field r and jump J after each layer,
   * r_l = r_{l-1} + d_l (k_l - 1) J_{l-1},  J_l = J_{l-1} s_l. */
  function receptiveFieldExplorer(root) {
    var controls = el("div", { "class": "cnn-controls" }, root);
    var depth = slider(controls, "layers", "layers", 1, 6, 3, rebuild);
    var table = el("table", { "class": "cnn-layers" }, root);
    var readout = el("p", { "class": "cnn-readout" }, root);
    var svg = el("svg", { "class": "cnn-svg", role: "img" }, root);
    var rows = [];

    function rebuild() {
      var L = num(depth);
      while (rows.length < L) {
        var tr = el("tr", {}, table), index = rows.length;
        el("td", {}, tr, t("layer {n}", { n: index + 1 }));
        var cells = [el("td", {}, tr), el("td", {}, tr), el("td", {}, tr)];
        rows.push({
          tr: tr,
          k: slider(cells[0], "k" + index, "k", 1, 7, 3, update),
          s: slider(cells[1], "s" + index, "s", 1, 3, index === 1 ? 2 : 1, update),
          d: slider(cells[2], "d" + index, "d", 1, 4, 1, update),
        });
      }
      rows.forEach(function (row, index) { row.tr.style.display = index < L ? "" : "none"; });
      update();
    }

    function update() {
      var L = num(depth), field = 1, jump = 1, fields = [], jumps = [];
      for (var l = 0; l < L; l++) {
        field += num(rows[l].d) * (num(rows[l].k) - 1) * jump;
        jump *= num(rows[l].s);
        fields.push(field); jumps.push(jump);
      }
      readout.setAttribute("data-fields", JSON.stringify(fields));
      readout.setAttribute("data-jumps", JSON.stringify(jumps));
      readout.textContent = t("Receptive field after each layer: {fields} input pixels; one step in the last layer moves {jump} input pixels.",
        { fields: fields.join(", "), jump: jump });
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var scale = Math.min(12, 640 / Math.max(field, 1)), height = 24;
      for (l = 0; l < L; l++) {
        var width = fields[l] * scale, y = (L - 1 - l) * height;
        el("rect", { x: (field - fields[l]) * scale / 2, y: y + 4, width: width, height: height - 8,
                     fill: PALETTE[l % PALETTE.length], "fill-opacity": 0.8 }, svg);
        el("text", { x: field * scale + 8, y: y + height / 2 + 4, "font-size": 11 }, svg,
           t("layer {n}: {field} px", { n: l + 1, field: fields[l] }));
      }
      svg.setAttribute("width", field * scale + 110);
      svg.setAttribute("height", L * height + 4);
      svg.setAttribute("aria-label", t("receptive field widths, one bar per layer"));
    }
    rebuild();
  }

  var KINDS = { conv: convExplorer, pool: poolExplorer, "receptive-field": receptiveFieldExplorer };

  function start() {
    var nodes = document.querySelectorAll("div.cnn-explorer[data-explorer]");
    Array.prototype.forEach.call(nodes, function (node) {
      var make = KINDS[node.getAttribute("data-explorer")];
      if (make && !node.hasAttribute("data-ready")) {
        make(node);
        node.setAttribute("data-ready", "true");
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
