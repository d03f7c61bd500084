#!/usr/bin/env bash
# Installs the Debian packages the suite uses when possible; never fails the build, only explains.
#   bubblewrap            -> /usr/bin/bwrap, the namespace sandbox that grading runs student code in
#   dataset-fashion-mnist -> /usr/share/datasets/fashion-mnist, the offline classification dataset
#   chromium              -> /usr/bin/chromium, the real browser of the browser tests (Playwright)
#   python3-venv          -> what Gradescope's setup.sh uses to make its environment (integration test)
set -u
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if command -v /usr/bin/python3 >/dev/null 2>&1 && ! /usr/bin/python3 -c "import ensurepip" 2>/dev/null; then
  missing+=(python3-venv)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
      || echo "warning: could not install ${missing[*]} with apt-get"
  fi
else
  echo "note: optional system packages missing: ${missing[*]}"
  echo "      (sudo apt-get install ${missing[*]}); without bubblewrap grading runs with reduced"
  echo "      isolation, without dataset-fashion-mnist the data loaders use the web, without chromium"
  echo "      the browser tests skip."
fi
exit 0
