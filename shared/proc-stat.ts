/**
 * The one parser of /proc/<pid>/stat ("pid (comm) state ppid pgrp session … utime stime …"). comm
 * may itself hold spaces and parentheses, so fields are counted after the last ")". No imports:
 * the hook uses it and every import costs its start-up.
 */

/** The fields after "(comm)": [0] state, [1] ppid, [3] session id, [11] utime, [12] stime (clock ticks). */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
}
