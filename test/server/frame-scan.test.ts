/**
 * The byte scan that runs before a frame is parsed (app/protocol/phoenix.ts scanFrame): it must
 * locate exactly the `data` JSON.parse would produce (the server keeps that text and sends it on),
 * and refuse by value count only frames that really hold too many values.
 */
import fc from 'fast-check';
import { dataBoundsError, decodeHead, MAX_DATA_VALUES, pushSignal, push, scanFrame } from '../../app/protocol/phoenix';

const dataOf = (frame: string): unknown => {
  const buf = Buffer.from(frame);
  const span = scanFrame(buf, 1_000_000).data;
  return span ? JSON.parse(buf.toString('utf8', span[0], span[1])) : undefined;
};

describe('scanFrame', () => {
  it('finds the same data as JSON.parse for any payload, compact or indented', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }),
        fc.boolean(),
        fc.boolean(),
        (data, extra, dataFirst, pretty) => {
          const payload = dataFirst ? { data, ...extra, to: 'x' } : { to: 'x', ...extra, data };
          const frame = JSON.stringify(['1', '2', 'peer:a', 'signal', payload], null, pretty ? 2 : undefined);
          const parsed = (JSON.parse(frame) as [unknown, unknown, unknown, unknown, { data: unknown }])[4].data;
          const span = scanFrame(Buffer.from(frame), 1_000_000).data;
          if (span) expect(JSON.parse(Buffer.from(frame).toString('utf8', span[0], span[1]))).toEqual(parsed);
          else expect(Object.keys(extra).some((k) => JSON.stringify(k).includes('\\'))).toBe(true); // only an escaped key defeats it
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('takes the last "data" key as JSON.parse does, ignores "data" elsewhere, gives up on escaped keys', () => {
    expect(dataOf('["1","2","t","signal",{"data":1,"to":"x","data":[2,{"data":3}]}]')).toEqual([2, { data: 3 }]);
    expect(dataOf('["1","2","t","signal",{"to":"data","x":{"data":9},"data" : "v,}" }]')).toBe('v,}');
    expect(dataOf('["1","2","t","signal",{"data":1,"d\\u0061ta":2}]')).toBeUndefined();
    expect(dataOf('["1","2","t","signal",{"to":"x"}]')).toBeUndefined();
  });

  it('refuses by count only what holds more values than data may (commas outside strings)', () => {
    const amplify = `["1","2","peer:a","signal",{"to":"a","id":"x","data":[${'{},'.repeat(21_000)}{}]}]`;
    expect(scanFrame(Buffer.from(amplify)).tooManyValues).toBe(true);
    const atBound = Array.from({ length: MAX_DATA_VALUES - 1 }, () => 0);
    const ok = JSON.stringify(['1', '2', 'peer:a', 'signal', { to: 'a', id: 'x', data: atBound }]);
    expect(dataBoundsError(atBound)).toBeUndefined();
    expect(scanFrame(Buffer.from(ok)).tooManyValues).toBe(false);
    const commasInStrings = JSON.stringify(['1', '2', 'peer:a', 'signal', { to: 'a', id: 'x', data: ','.repeat(60_000) }]);
    expect(scanFrame(Buffer.from(commasInStrings)).tooManyValues).toBe(false);
    const escapedQuotes = JSON.stringify(['1', '2', 'peer:a', 'signal', { to: 'a', id: 'x', data: '\\",'.repeat(10_000) }]);
    expect(scanFrame(Buffer.from(escapedQuotes)).tooManyValues).toBe(false);
  });

  it('reads the head of a refused frame for its reply', () => {
    expect(decodeHead(Buffer.from('["1","7","peer:a","signal",{"data":[{},{}]}]'))).toEqual({
      joinRef: '1',
      ref: '7',
      topic: 'peer:a',
      event: 'signal',
    });
    expect(decodeHead(Buffer.from('[ null , "7" , "peer:a" , "signal" ,'))).toEqual({
      joinRef: null,
      ref: '7',
      topic: 'peer:a',
      event: 'signal',
    });
    expect(decodeHead(Buffer.from('{"not":"a frame"}'))).toBeUndefined();
  });
});

describe('pushSignal', () => {
  it('is byte for byte the push the parsed value would have produced', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(fc.string()), fc.boolean(), (data, joinRef, replayed) => {
        const s = { from: 'a.b-c', id: 'i"d', seq: 7, replayed };
        expect(pushSignal(joinRef, 'peer:x', s, JSON.stringify(data))).toBe(
          push(joinRef, 'peer:x', 'signal', { from: s.from, id: s.id, seq: 7, data, replayed }),
        );
      }),
      { numRuns: 500 },
    );
  });
});
