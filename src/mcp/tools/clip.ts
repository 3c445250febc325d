/**
 * Command output cut to what an agent should read: the start and the end of
 * a stream (errors are usually at the end), with a marker in the middle that
 * says how much was left out and how big the whole was.
 */
export interface Clipped {
  text: string;
  /** Bytes of the whole stream as captured. */
  bytes: number;
  cut: boolean;
}

export function clip(text: string, maxBytes: number, alreadyCapped = false): Clipped {
  const buf = Buffer.from(text, "utf8");
  const whole = alreadyCapped ? `more than ${buf.length}` : String(buf.length);
  if (buf.length <= maxBytes)
    return {
      text: alreadyCapped ? `${text}\n[... sandboxer: output cut here by the capture limit; ${whole} bytes in all ...]` : text,
      bytes: buf.length,
      cut: alreadyCapped,
    };
  const head = Math.floor(maxBytes / 4);
  const tail = maxBytes - head;
  const left = buf.length - head - tail;
  const marker = `\n[... sandboxer: ${left} bytes cut here; ${whole} bytes in all ...]\n`;
  return { text: `${buf.subarray(0, head).toString("utf8")}${marker}${buf.subarray(buf.length - tail).toString("utf8")}`, bytes: buf.length, cut: true };
}
