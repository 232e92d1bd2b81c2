export async function runDemo(_opts: { port: number }): Promise<void> {
  throw new Error('demo: being written');
}
