#!/usr/bin/env bash
# Copies the generated CRDs (crds/*.yaml, from `npm run generate:crd`) into the Helm chart's
# templates, wrapped so that `crds.enabled` installs them and `crds.keep` annotates them with
# helm.sh/resource-policy: keep. The chart's copy must never be edited by hand.
#
#   scripts/sync-chart-crds.sh           rewrite charts/hoist/templates/crds/
#   scripts/sync-chart-crds.sh --check   exit 1 (and show the diff) when the copy is stale
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/crds"
dst="$root/charts/hoist/templates/crds"

render() { # <crd file> -> the chart template on stdout
  local file=$1
  printf '{{- if .Values.crds.enabled }}\n'
  printf '# Copied from crds/%s by scripts/sync-chart-crds.sh; do not edit.\n' "$(basename "$file")"
  # Drop the leading comment header; after metadata.name add the chart labels and the keep annotation.
  awk '
    !body && /^#/ { next }
    { body = 1 }
    inmeta && /^  name: / {
      print
      print "  labels:"
      print "    {{- include \"hoist.labels\" . | nindent 4 }}"
      print "  {{- if .Values.crds.keep }}"
      print "  annotations:"
      print "    helm.sh/resource-policy: keep"
      print "  {{- end }}"
      inmeta = 0
      next
    }
    /^metadata:$/ { inmeta = 1 }
    /^  (labels|annotations):/ && inmeta { print "sync-chart-crds.sh: " FILENAME " already has metadata labels/annotations; extend the script" > "/dev/stderr"; exit 2 }
    { print }
  ' "$file"
  printf '{{- end }}\n'
}

check=false
[ "${1:-}" = "--check" ] && check=true
out=$dst
if $check; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out"
rm -f "$out"/*.yaml

for file in "$src"/*.yaml; do
  render "$file" > "$out/$(basename "$file")"
done

# The alert rules and the dashboard, for metrics.prometheusRule and metrics.grafanaDashboard
# (Helm reads files inside the chart only).
files="$root/charts/hoist/files"
if $check; then
  for f in deploy/prometheus/hoist-alerts.yaml deploy/grafana/hoist-dashboard.json; do
    if ! cmp -s "$root/$f" "$files/$(basename "$f")"; then
      echo "charts/hoist/files/$(basename "$f") is out of date with $f; run scripts/sync-chart-crds.sh" >&2
      exit 1
    fi
  done
else
  mkdir -p "$files"
  cp "$root/deploy/prometheus/hoist-alerts.yaml" "$root/deploy/grafana/hoist-dashboard.json" "$files/"
fi

if $check; then
  if ! diff -ru "$dst" "$out"; then
    echo "charts/hoist/templates/crds is out of date with crds/; run scripts/sync-chart-crds.sh" >&2
    exit 1
  fi
  echo "charts/hoist/templates/crds and charts/hoist/files are in sync"
else
  echo "wrote $(ls "$out" | sed 's|^|charts/hoist/templates/crds/|' | tr '\n' ' ')charts/hoist/files/"
fi
