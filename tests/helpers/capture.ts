import { Writable } from 'node:stream';

/** A writable stream that keeps what is written to it as text, for checking a command's output. */
export function capture(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stream.text += chunk.toString();
      callback();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}
