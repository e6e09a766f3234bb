/** A piece of a run's output and the byte offset, in the run's output, of its first byte. */
export interface OutputPiece {
  offset: number;
  data: Buffer;
}

/**
 * Output of one run that the service has not acknowledged yet, as bytes, with the offset of each
 * byte in the run's output. Every piece goes out with its offset, so the service stores a piece
 * sent twice (a retry whose first copy got through) once; a piece whose sending failed is put
 * back and goes out again at the same offset.
 */
export class OutputBuffer {
  private parts: Buffer[] = [];
  private size = 0;
  /** Offset of the first byte held. */
  private start = 0;

  get length(): number {
    return this.size;
  }

  /** Where the next piece taken starts. */
  get offset(): number {
    return this.start;
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  /** Takes up to `max` bytes from the front, copying only those. */
  take(max: number): OutputPiece {
    const offset = this.start;
    const taken: Buffer[] = [];
    let n = 0;
    while (this.parts.length > 0 && n < max) {
      const head = this.parts[0];
      if (n + head.length <= max) {
        taken.push(head);
        n += head.length;
        this.parts.shift();
      } else {
        taken.push(head.subarray(0, max - n));
        this.parts[0] = head.subarray(max - n);
        n = max;
      }
    }
    this.size -= n;
    this.start += n;
    return { offset, data: taken.length === 1 ? taken[0] : Buffer.concat(taken, n) };
  }

  /** Puts back a piece taken last whose sending failed. */
  putBack(piece: OutputPiece): void {
    if (piece.data.length === 0) return;
    this.parts.unshift(piece.data);
    this.size += piece.data.length;
    this.start = piece.offset;
  }
}
