#!/bin/bash
# faults-submit.sh - tests/cases/faults.sh for a submission with the
# server up and with it down, as a test of its own so that make check
# runs the fault matrix's parts side by side (faults.sh says how the
# matrix samples and what every run must satisfy).
FAULT_SCENARIOS=${FAULT_SCENARIOS:-up down} exec bash "$(dirname "$0")/faults.sh" "$@"
