#!/bin/bash
# faults-maildrop.sh - tests/cases/faults.sh for the maildrop: uid 33
# writes a drop file, root picks two up (root only), as a test of its
# own so that make check runs the fault matrix's parts side by side
# (faults.sh says how the matrix samples and what every run must satisfy).
FAULT_SCENARIOS=${FAULT_SCENARIOS:-dropw pickup} exec bash "$(dirname "$0")/faults.sh" "$@"
