/**
 * How the charts tell series apart: a colour AND a dash pattern per series.
 *
 * Colours: Kelly's colours of maximum contrast (K. L. Kelly, "Twenty-two colors of maximum
 * contrast", 1965) without white and without the red that marks "peers offline", in his order (the
 * first ones differ most). 20 of them: no colour repeats up to 20 series. Dashes: 7 patterns (solid
 * first), a count coprime to 20, so (colour, dash) does not repeat before 140 series, and two series
 * that draw the same values (three servers at 20 connections each) still show, one over the other,
 * as alternating colours instead of one line.
 */

export const PALETTE = [
  '#0067a5',
  '#f38400',
  '#008856',
  '#875692',
  '#222222',
  '#e68fac',
  '#848482',
  '#882d17',
  '#8db600',
  '#f3c300',
  '#604e97',
  '#a1caf1',
  '#b3446c',
  '#2b3d26',
  '#f6a600',
  '#c2b280',
  '#654522',
  '#e25822',
  '#dcd300',
  '#f99379',
] as const;

/** SVG stroke-dasharray values; '' is a solid line. */
export const DASHES = ['', '8,4', '2,3', '10,3,2,3', '5,5', '14,4', '3,3,3,8'] as const;

/** Peers offline: red, its own dash, never one of the server colours. */
export const OFFLINE_STYLE = { color: '#d62728', dash: '6,2,1,2' } as const;

export interface SeriesStyle {
  color: string;
  dash: string;
}

export function seriesStyle(i: number): SeriesStyle {
  return { color: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length] };
}
