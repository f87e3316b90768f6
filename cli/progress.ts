/**
 * A one-line progress bar on a terminal (stderr); on anything else it draws nothing, and the
 * caller's plain result lines are the progress. Lines printed through `log` go above the bar.
 */
export class Progress {
  private done = 0;
  private label = "";

  constructor(private readonly total: number, private readonly tty: NodeJS.WriteStream | undefined, private readonly width = 30) {}

  log(print: () => void): void {
    this.clear();
    print();
    this.draw();
  }

  tick(label: string): void {
    this.done += 1;
    this.label = label;
    this.draw();
  }

  finish(): void {
    this.clear();
  }

  private clear(): void {
    this.tty?.write("\r\x1b[2K");
  }

  private draw(): void {
    if (!this.tty || this.total === 0) return;
    const filled = Math.round((this.done / this.total) * this.width);
    // A terminal that reports no size (0 columns, e.g. a pty nobody sized) is treated as 80 wide.
    const columns = this.tty.columns || 80;
    const line = `[${"#".repeat(filled)}${".".repeat(this.width - filled)}] ${this.done}/${this.total} ${this.label}`;
    this.tty.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
  }
}
