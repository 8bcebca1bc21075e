/** What the infra CLIs (`npm run plan`, `plan:diff`, `rollout`) share about their standard output. */

/** `npm run plan | head` closes the pipe early: exit 0 then, it is not an error; any other write error is thrown. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}
