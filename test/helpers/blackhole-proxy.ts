/** The black-hole proxy lives in app/local (the benchmark and the drill use it too). */
export * from '../../app/local/blackhole-proxy';
