// The SDK's bundle size, minified (esbuild) and gzipped (level 9), with its
// protobuf runtime and without it (an app that already ships
// @bufbuild/protobuf). Run: make bench-ts, or node build/bench/size.js.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const entry = fileURLToPath(new URL("../../src/index.ts", import.meta.url));
for (const [label, external] of [
  ["SDK + @bufbuild/protobuf", []],
  ["SDK alone (protobuf external)", ["@bufbuild/protobuf", "@bufbuild/protobuf/*"]],
] as const) {
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: "esm", target: "es2020", platform: "browser", external: [...external], write: false, logLevel: "silent" });
  const js = out.outputFiles[0].contents;
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`${label}: ${kib(js.length)} minified, ${kib(gzipSync(js, { level: 9 }).length)} gzipped`);
}
