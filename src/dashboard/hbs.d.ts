// hbs ships no types; these are the two calls the dashboard makes.
declare module 'hbs' {
  const hbs: {
    registerPartials(directory: string, options: { rename?: (name: string) => string }, done: () => void): void;
    registerHelper(name: string, fn: (...args: unknown[]) => unknown): void;
  };
  export default hbs;
}
