/**
 * What a bed of several servers undoes on stop: the steps run last-first (a server stops before what it
 * depends on), each once, and one that fails does not keep the others from running: a stop must leave
 * no trace even when a server has already died.
 */
export class StopSteps {
  #steps: Array<() => Promise<void>> = [];

  push(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    const steps = this.#steps.reverse();
    this.#steps = [];
    for (const step of steps) await step().catch(() => undefined);
  }
}
