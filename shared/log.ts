/** One-line, prefixed log lines on stderr (the broker's stderr is its log file). */

export type Log = (line: string) => void;

export function createLog(prefix: string, write: (text: string) => void = (t) => process.stderr.write(t)): Log {
  return (line) => write(`${new Date().toISOString()} ${prefix}: ${line}\n`);
}
