#!/usr/bin/env bash
# descent-train: a run interrupted and resumed from its checkpoint ends with
# a final checkpoint (parameters, optimizer and scheduler state, averaged
# model, loss history) byte-identical to the uninterrupted run's; bad
# configurations fail with a clear message.
#   train_resume.sh DESCENT_TRAIN WORKDIR
set -euo pipefail
exe=$(realpath "$1") work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"

check() {  # name, stop step, run flags...
  local name=$1 stop=$2
  shift 2
  "$exe" "$@" --quiet --checkpoint "$name-straight.dckpt" --checkpoint-every 25 > /dev/null
  "$exe" "$@" --quiet --checkpoint "$name-resumed.dckpt" --checkpoint-every 25 --stop-after "$stop" > /dev/null
  "$exe" --resume "$name-resumed.dckpt" --quiet --svg "$name.svg" > /dev/null
  cmp "$name-straight.dckpt" "$name-resumed.dckpt"
  grep -q '</svg>' "$name.svg"
  echo "ok: $name (interrupted at step $stop)"
}

check adamw-onecycle-ema 61 --optimizer adamw --scheduler onecycle --ema 0.99 --steps 120 --seed 3
check sgd-plateau-swa 50 --optimizer sgd --opt momentum=0.9 --opt nesterov=true --scheduler plateau --swa 80 --steps 120
check lbfgs-cosine 7 --optimizer lbfgs --scheduler warmup-cosine --steps 15 --task regression
check rprop-cyclic 33 --optimizer rprop --scheduler cyclic --steps 60

expect_error() {  # expected message fragment, flags...
  local want=$1
  shift
  if "$exe" "$@" > out.txt 2> err.txt; then echo "expected failure: $*"; exit 1; fi
  grep -qF -- "$want" err.txt || { echo "for $*: expected '$want' in:"; cat err.txt; exit 1; }
  echo "ok: error for $*"
}
expect_error "SparseAdam needs sparse gradients" --optimizer sparseadam --steps 5
expect_error "unknown optimizer 'foo'" --optimizer foo
expect_error "unknown scheduler 'bar'" --scheduler bar --steps 5
expect_error "--lr cannot be changed" --resume adamw-onecycle-ema-resumed.dckpt --lr 0.1
expect_error "not a descent checkpoint" --resume adamw-onecycle-ema.svg
"$exe" --compare adam,sgd --steps 20 --quiet --svg compare.svg | grep -q "Adam"
grep -q '</svg>' compare.svg
echo "ok: compare"
