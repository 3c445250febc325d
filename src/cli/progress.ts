import type { ProgressNote } from "../broker.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * A one-line spinner on stderr while long work runs. Silent with --json or
 * when stderr is not a terminal, so pipes and logs stay clean.
 */
export function startSpinner(enabled: boolean, label: string): { update(note: ProgressNote): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  let text = label;
  let i = 0;
  const started = Date.now();
  const draw = () => {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const line = `${FRAMES[i++ % FRAMES.length]} ${text} (${secs}s)`;
    const width = process.stderr.columns || 100;
    process.stderr.write(`\r\x1b[K${line.slice(0, width - 1)}`);
  };
  const timer = setInterval(draw, 80);
  draw();
  return {
    update(note) {
      text = `${note.sandboxId}: ${note.message}${note.percent !== undefined ? ` ${Math.round(note.percent)}%` : ""}`;
      draw();
    },
    stop() {
      clearInterval(timer);
      process.stderr.write("\r\x1b[K");
    },
  };
}
