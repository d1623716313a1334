#!/bin/bash
# faults-queue.sh - tests/cases/faults.sh for a queue run of three
# entries and a -bs session with two messages, as a test of its own so
# that make check runs the fault matrix's parts side by side (faults.sh
# says how the matrix samples and what every run must satisfy).
FAULT_SCENARIOS=${FAULT_SCENARIOS:-queue bs} exec bash "$(dirname "$0")/faults.sh" "$@"
