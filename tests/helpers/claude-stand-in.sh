#!/bin/sh
# Stands in for the Claude Code process above a session's server.ts, as far as the server can
# tell: its command line (named like Claude Code, with Claude Code's flags, e.g. the channel flag)
# and its environment (e.g. a claude.ai login), which the server reads to know whether its mail is
# shown by channel push. It runs the command after `--` as its child and stays its parent.
#
# usage: sh claude-stand-in.sh [claude flags...] -- command [args...]
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
[ "$#" -gt 0 ] && shift
"$@"
status=$?
exit "$status"
