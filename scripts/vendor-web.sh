#!/usr/bin/env bash
# Copies what the dashboard (web/) loads from outside web/ into web/vendor/ (git-ignored):
# uPlot from tests/node_modules (npm) and the JS adapter from adapters/js. Run by scripts/deps.sh
# after `npm install` in tests/; safe to re-run. No build step beyond these copies.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/node_modules/uplot/dist
if [ ! -f "$src/uPlot.esm.js" ]; then
  echo "vendor-web: $src/uPlot.esm.js missing: run 'npm install' in tests/ (scripts/deps.sh does)" >&2
  exit 1
fi
mkdir -p web/vendor/uplot web/vendor/wsmesh
cp "$src/uPlot.esm.js" "$src/uPlot.min.css" web/vendor/uplot/
cp tests/node_modules/uplot/LICENSE web/vendor/uplot/ 2>/dev/null || true
cp adapters/js/*.mjs web/vendor/wsmesh/
echo "vendor-web: web/vendor/ updated (uPlot $(node -p "require('./tests/node_modules/uplot/package.json').version" 2>/dev/null || echo '?'), wsmesh adapter)"
