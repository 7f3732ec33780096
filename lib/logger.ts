/**
 * The operator log: one line per event, each starting `[tdk]`. Nothing secret is ever passed in
 * (keys, wallet secrets, session tokens): callers log ids and codes only.
 */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

export const consoleLogger: Logger = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
};
