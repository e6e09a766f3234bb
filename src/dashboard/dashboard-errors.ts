/** The browser has no logged-in session: full pages redirect to the login form. */
export class LoginRequired extends Error {
  constructor() {
    super('log in to use the dashboard');
  }
}

/** A form arrived without this session's CSRF token: refused, nothing done. */
export class CsrfRejected extends Error {
  constructor() {
    super('This form was not sent by this dashboard session (its security token is missing or wrong). Reload the page and try again.');
  }
}
