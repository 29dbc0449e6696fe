// The two charts, drawn as inline SVG: the last requests' latencies and the semantic hits' distances.
import { format, setText } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const BARS = { hit: "bar-hit", miss: "bar-miss", bypass: "bar-bypass", error: "bar-error" };

function svgElement(name, attributes, title) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (title) {
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = title;
    element.appendChild(tip);
  }
  return element;
}

// Draw in real pixels (viewBox = rendered size) so text and strokes are never stretched.
function canvas(svg) {
  const width = Math.max(svg.clientWidth, 120);
  const height = Math.max(svg.clientHeight, 80);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  return { width, height };
}

// Bars on a log scale: a 0.5 ms hit and a 900 ms miss must both be visible in one chart.
export function renderSparkline(points) {
  const svg = document.getElementById("sparkline");
  const { width, height } = canvas(svg);
  const gutter = 50; // decade labels on the left
  const slots = 20;
  const slot = (width - gutter) / slots;
  const values = points.map((point) => Math.max(point.ms, 0.1));
  const top = Math.ceil(Math.log10(Math.max(...values, 10)) + 0.05);
  const bottom = Math.floor(Math.log10(Math.min(...values, 1)));
  const y = (ms) => height - ((Math.log10(Math.max(ms, 0.1)) - bottom) / (top - bottom)) * (height - 8);
  for (let decade = bottom; decade <= top; decade += 1) {
    const at = y(10 ** decade);
    svg.appendChild(svgElement("line", { class: "grid-line", x1: gutter, x2: width, y1: at, y2: at }));
    const label = svgElement("text", { x: gutter - 8, y: Math.min(Math.max(at + 4, 10), height - 1), "text-anchor": "end" });
    label.textContent = decade >= 3 ? `${10 ** (decade - 3)} s` : `${decade < 0 ? "0.1" : 10 ** decade} ms`;
    svg.appendChild(label);
  }
  points.forEach((point, index) => {
    const x = gutter + (slots - points.length + index) * slot;
    const barTop = y(point.ms);
    const kind = point.outcome === "hit" && point.layer === "semantic" ? "bar-semantic" : BARS[point.outcome];
    const label = `${point.outcome}${point.layer ? ` (${point.layer})` : ""} · ${format.ms(point.ms)}`;
    svg.appendChild(svgElement("rect", {
      class: kind || "bar-bypass", x: x + slot * 0.14, width: slot * 0.72,
      y: Math.min(barTop, height - 3), height: Math.max(height - barTop, 3), rx: Math.min(3, slot * 0.15),
      "data-outcome": point.outcome,
    }, label));
  });
  svg.dataset.points = String(points.length);
}

export function renderHistogram(distances) {
  const svg = document.getElementById("histogram");
  const { width, height: full } = canvas(svg);
  const height = full - 20; // the axis labels go below
  const beyond = distances.beyond > 0;
  const bins = distances.counts.length + (beyond ? 1 : 0);
  const plot = height - 18; // room for the counts above the bars
  const slot = width / bins;
  const peak = Math.max(...distances.counts, distances.beyond, 1);
  const threshold = distances.counts.length * slot;
  svg.appendChild(svgElement("rect", { class: "close-zone", x: threshold * 0.8, y: 0, width: threshold * 0.2, height }));
  const zone = svgElement("text", { class: "close-label", x: threshold * 0.9, y: 12, "text-anchor": "middle" });
  zone.textContent = "close calls";
  svg.appendChild(zone);
  const edges = distances.edges;
  const every = slot * 2 >= 70 ? 2 : edges.length - 1; // on a phone only the two ends are labelled
  edges.forEach((edge, index) => {
    if (index % every) return;
    const anchor = index === 0 ? "start" : index === edges.length - 1 ? "end" : "middle";
    const tick = svgElement("text", { x: index * slot, y: full - 4, "text-anchor": anchor });
    const value = String(Number(edge.toFixed(3))); // 0.024, 0.12: exact, no trailing zeros
    tick.textContent = index === edges.length - 1 ? `threshold ${value}` : value;
    svg.appendChild(tick);
  });
  [...distances.counts, ...(beyond ? [distances.beyond] : [])].forEach((count, index) => {
    const barHeight = (count / peak) * (plot - 4);
    const range = index < distances.counts.length
      ? `${edges[index].toFixed(3)}–${edges[index + 1].toFixed(3)}` : `beyond ${distances.threshold}`;
    svg.appendChild(svgElement("rect", {
      class: index < distances.counts.length ? "bar-distance" : "bar-beyond",
      x: index * slot + slot * 0.1, width: slot * 0.8, y: height - barHeight, height: Math.max(barHeight, count ? 2 : 0), rx: 3,
    }, `${count} semantic hit${count === 1 ? "" : "s"} at distance ${range}`));
    if (count) {
      const text = svgElement("text", { x: index * slot + slot / 2, y: height - barHeight - 5, "text-anchor": "middle" });
      text.textContent = String(count);
      svg.appendChild(text);
    }
  });
  svg.appendChild(svgElement("line", { class: "threshold", x1: threshold, x2: threshold, y1: 0, y2: height }));
  svg.appendChild(svgElement("line", { class: "grid-line", x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5 }));
  setText(document.getElementById("close-calls"), distances.hits
    ? "Cosine distance of each semantic hit. Close calls, served at 80% or more of the threshold, are the ones " +
      `to spot-check before loosening it: ${format.int(distances.close_calls)} in this window.`
    : "No semantic hits in this window yet: a paraphrase of an earlier prompt shows up here.");
  setText(document.getElementById("distance-summary"), distances.hits
    ? `${format.int(distances.hits)} semantic hits · median ${distances.p50.toFixed(3)} · max ${distances.max.toFixed(3)}`
    : "");
}
