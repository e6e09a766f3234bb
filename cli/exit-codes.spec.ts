import { CommanderError } from 'commander';
import { CommandFailed, EXIT, EXIT_CODE_MEANINGS, UsageError, errorLine, exitCodeFor, exitCodesHelp } from './exit-codes';
import { ApiError, ServiceUnreachable } from './http';

describe('exitCodeFor', () => {
  it.each([
    [400, 2],
    [413, 2],
    [401, 6],
    [403, 6],
    [404, 3],
    [409, 4],
    [500, 1],
    [503, 1],
  ])('HTTP %d exits %d', (status, code) => {
    expect(exitCodeFor(new ApiError(status, 'x', 'message'))).toBe(code);
  });

  it('maps the errors of the CLI itself', () => {
    expect(exitCodeFor(new ServiceUnreachable('down'))).toBe(5);
    expect(exitCodeFor(new UsageError('bad'))).toBe(2);
    expect(exitCodeFor(new CommandFailed('no', EXIT.unauthorised))).toBe(6);
    expect(exitCodeFor(new CommandFailed('no'))).toBe(1);
    expect(exitCodeFor(new TypeError('boom'))).toBe(1);
    expect(exitCodeFor('thrown string')).toBe(1);
  });

  it('treats commander usage errors as 2, help and version as 0', () => {
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', "error: unknown option '-x'"))).toBe(2);
    expect(exitCodeFor(new CommanderError(1, 'commander.missingArgument', 'error: missing'))).toBe(2);
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toBe(0);
    expect(exitCodeFor(new CommanderError(0, 'commander.version', '0.1.0'))).toBe(0);
  });
});

describe('errorLine', () => {
  it('is one line without the "error:" prefix', () => {
    expect(errorLine(new Error('error: unknown command \'lsit\'\n(Did you mean list?)'))).toBe("unknown command 'lsit' (Did you mean list?)");
  });
  it('lists every validation problem the API found', () => {
    expect(errorLine(new ApiError(400, 'invalid_input', 'a (and 1 more: see details)', ['a', 'b']))).toBe('a; b');
  });
  it('points at the token on 401', () => {
    expect(errorLine(new ApiError(401, 'unauthorized', 'invalid token'))).toMatch(/^not authorised: invalid token .*QUEUECTL_TOKEN/);
  });
});

it('documents every exit code in --help', () => {
  const help = exitCodesHelp();
  for (const [code, meaning] of Object.entries(EXIT_CODE_MEANINGS)) expect(help).toContain(`${code}  ${meaning}`);
  expect(Object.keys(EXIT_CODE_MEANINGS).map(Number).sort()).toEqual(Object.values(EXIT).sort());
});
