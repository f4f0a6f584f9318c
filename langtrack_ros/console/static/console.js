// langtrack operator console: draws the newest frame the server sends, the box over it, the
// confidence plot and the relocalization events; sends a new sentence or pause/resume.
// Each image is acknowledged once drawn; the server sends the next only then (no queueing).
"use strict";

const $ = (id) => document.getElementById(id);
const view = $("view"), plot = $("plot");
const PLOT_POINTS = 300, EVENT_ROWS = 50;
const COLOURS = { found: "#28dc28", lost: "#eb3228", "query changed": "#e628e6", "low confidence": "#eb3228",
                  recovered: "#28dc28" };
let socket = null, pending = null, image = null, state = {}, points = [], marks = [], frames = 0;

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws${location.search}`);
  socket.binaryType = "blob";
  socket.onopen = () => { $("status").textContent = "connected"; };
  socket.onclose = () => { $("status").textContent = "disconnected, retrying…"; setTimeout(connect, 1000); };
  socket.onmessage = (event) => (typeof event.data === "string" ? onText(JSON.parse(event.data))
                                                                 : onImage(event.data));
}

function onText(msg) {
  if (msg.type === "reply") return showReply(msg);
  if (msg.type !== "frame") return;
  remember(msg);
  if (msg.image) { pending = msg; return; }   // its JPEG follows
  state = msg;
  render();
}

async function onImage(blob) {
  const msg = pending;
  pending = null;
  try { image = await createImageBitmap(blob); } catch (err) { image = null; }
  state = msg || state;
  frames += 1;
  render();
  socket.send(JSON.stringify({ ack: state.seq }));
}

function remember(msg) {
  for (const p of msg.points || []) points.push(p);
  points = points.slice(-PLOT_POINTS);
  const list = $("events");
  for (const e of msg.events || []) {
    marks.push([e.seq, e.reason]);
    const row = document.createElement("li");
    row.className = e.reason.replace(/ /g, "");
    const when = new Date(e.time * 1000).toLocaleTimeString();
    const kappa = e.kappa === null ? "–" : e.kappa.toFixed(2);
    row.textContent = `${when} ${e.reason}: "${e.query}" (confidence ${kappa})`;
    list.insertBefore(row, list.firstChild);
    while (list.children.length > EVENT_ROWS) list.removeChild(list.lastChild);
  }
  marks = marks.filter((m) => points.length && m[0] >= points[0][0]);
}

function render() {
  const ctx = view.getContext("2d");
  if (image) {
    if (view.width !== image.width || view.height !== image.height) {
      view.width = image.width;
      view.height = image.height;
    }
    ctx.drawImage(image, 0, 0);
  }
  const box = state.box;
  if (image && box && !state.paused) {
    const s = image.width / state.width;
    ctx.lineWidth = Math.max(2, view.width / 240);
    ctx.strokeStyle = state.found ? COLOURS.found : COLOURS.lost;
    ctx.strokeRect(box[0] * s, box[1] * s, box[2] * s, box[3] * s);
  }
  if (state.paused) {
    ctx.fillStyle = "rgba(0,0,0,.55)";
    ctx.fillRect(0, 0, view.width, 34);
    ctx.fillStyle = "#ffb74d";
    ctx.font = "bold 22px system-ui";
    ctx.fillText("PAUSED", 10, 25);
  }
  facts();
  drawPlot();
}

function facts() {
  const tracked = state.mode !== null && state.mode !== undefined && !state.paused;
  $("kappa").textContent = tracked && state.kappa !== null ? state.kappa.toFixed(2) : "–";
  $("mode").textContent = tracked ? state.mode : "–";
  $("mode").className = "badge " + (tracked ? state.mode : "");
  $("found").textContent = tracked ? (state.found ? "confident" : "low confidence") : "–";
  $("found").className = "badge " + (tracked ? (state.found ? "found" : "lost") : "");
  $("fps").textContent = state.fps !== undefined ? state.fps.toFixed(1) : "–";
  $("box").textContent = tracked && state.box ? state.box.map((v) => Math.round(v)).join(" ") : "–";
  $("query-now").textContent = state.query || "no query yet";
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  if (state.ended) $("status").textContent = "connected, source ended (last frame shown)";
  $("pause").classList.toggle("paused", !!state.paused);
  view.dataset.frames = frames;
  view.dataset.sourceWidth = state.width || view.width;
}

function drawPlot() {
  const ctx = plot.getContext("2d"), w = plot.width, h = plot.height;
  const y = (k) => (1 - (k + 1) / 2) * (h - 8) + 4;
  const x = (i) => (i / (PLOT_POINTS - 1)) * w;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#444";
  ctx.beginPath(); ctx.moveTo(0, y(0)); ctx.lineTo(w, y(0)); ctx.stroke();
  if (!points.length) return;
  const first = points[0][0];
  for (const [seq, reason] of marks) {
    const i = points.findIndex((p) => p[0] >= seq);
    ctx.strokeStyle = COLOURS[reason] || "#888";
    ctx.beginPath(); ctx.moveTo(x(i), 0); ctx.lineTo(x(i), h); ctx.stroke();
  }
  ctx.strokeStyle = "#6cb4ff";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(i), y(p[1])) : ctx.moveTo(x(i), y(p[1]))));
  ctx.stroke();
  ctx.lineWidth = 1;
  plot.dataset.first = first;
}

function showReply(msg) {
  const reply = $("reply");
  reply.textContent = msg.message;
  reply.className = msg.accepted ? "ok" : "refused";
}

$("query-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ query: $("query-input").value }));
    $("reply").textContent = "sending…";
    $("reply").className = "muted";
  }
});

$("pause").addEventListener("click", () => {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ pause: !state.paused }));
});

connect();
