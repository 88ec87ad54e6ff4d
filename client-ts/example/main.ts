// The example app: connects with the SDK and shows pushes as they arrive,
// with the connection state. Settings come from the page's query string:
// ?ws=ws://127.0.0.1:8080/ws&user=alice&groups=news. The token comes from
// /token on the page's own origin, which stands in for the app's backend.
import { HeraldClient } from "../src/index.js";

const q = new URLSearchParams(location.search);
const url = q.get("ws") ?? "ws://127.0.0.1:8080/ws";
const user = q.get("user") ?? "alice";
const groups = q.get("groups") ?? "news";

const $ = (id: string) => document.getElementById(id)!;
$("who").textContent = `${user}${groups ? ` · groups: ${groups}` : ""} · ${url}`;

const client = new HeraldClient({
  url,
  autoAck: true,
  token: async () => {
    const res = await fetch(`/token?${new URLSearchParams({ user, groups })}`);
    if (!res.ok) throw new Error(`token: HTTP ${res.status}`);
    return res.text();
  },
});

client.on("state", (s) => {
  const badge = $("state");
  badge.dataset.state = s.state;
  badge.textContent = s.state;
  const parts: string[] = [];
  if (s.welcome) parts.push(`session ${s.welcome.sessionId} on node ${s.welcome.nodeId}`);
  if (s.code) parts.push(`close code ${s.code}${s.reason ? ` (${s.reason})` : ""}`);
  if (s.error && s.state !== "connected") parts.push(s.error.message);
  if (s.delayMs !== undefined) parts.push(`next attempt in ${(s.delayMs / 1000).toFixed(1)} s`);
  $("detail").textContent = parts.join(" · ");
});

const decoder = new TextDecoder();
client.on("push", (p) => {
  $("empty")?.remove();
  const row = document.createElement("tr");
  row.className = "fresh";
  for (const [text, cls] of [
    [new Date().toLocaleTimeString(), ""],
    [p.stream, ""],
    [String(p.offset), ""],
    [p.topic, ""],
    [decoder.decode(p.payload), "payload"],
  ]) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }
  $("pushes").prepend(row);
});

client.on("resumeFailed", (r) => {
  $("detail").textContent = `pushes to ${r.stream} were lost while away: resync from your backend`;
});

client.start();
