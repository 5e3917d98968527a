// Bundles the panel (Lit + hls.js + our code) into the one file the integration serves.
import { build } from "esbuild";

await build({
  entryPoints: ["src/cctv-panel.ts"],
  // CCTV_PANEL_OUT: build elsewhere (the test that the committed bundle is up to date).
  outfile: process.env.CCTV_PANEL_OUT ?? "../custom_components/cctv_nvr/frontend/cctv-panel.js",
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "eof",
  logLevel: "info",
});
