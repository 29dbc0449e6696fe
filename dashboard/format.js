// Numbers as the dashboard shows them (latencies, shares, counts, dollars, durations), and the one way text
// reaches the page: textContent, so names that come from clients (models, routes) are never markup.

export function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

export const format = {
  ms(value) {
    if (value === null || value === undefined) return "–";
    if (value < 10) return `${value.toFixed(1)} ms`;
    if (value < 1000) return `${Math.round(value)} ms`;
    return `${(value / 1000).toFixed(value < 10000 ? 2 : 1)} s`;
  },
  pct(value) {
    return value === null || value === undefined ? "–" : `${(value * 100).toFixed(value >= 0.995 || value === 0 ? 0 : 1)}%`;
  },
  int(value) {
    return Number(value || 0).toLocaleString("en-US");
  },
  compact(value) {
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
    if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
    return format.int(value);
  },
  usd(value) {
    if (!value) return "$0";
    if (value < 0.0001) return "< $0.0001";
    if (value < 0.01) return `$${value.toFixed(4)}`;
    if (value < 100) return `$${value.toFixed(2)}`;
    return `$${Math.round(value).toLocaleString("en-US")}`;
  },
  duration(ms) {
    const seconds = ms / 1000;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
    if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  },
  windowName(seconds) {
    return seconds % 3600 === 0 ? `last ${seconds / 3600} h` : `last ${seconds / 60} min`;
  },
};
