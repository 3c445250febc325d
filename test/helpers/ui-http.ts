/** The dashboard over plain HTTP as a browser speaks it: cookies, the CSRF field, no redirects followed. */

/** `name=value` of the cookie `name` the response sets. */
export const cookieOf = (res: Response, name: string): string | undefined =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0] ?? "")
    .find((c) => c.startsWith(`${name}=`));

/** The CSRF value a page's forms carry. */
export const csrfIn = (page: string): string | undefined => /name="_csrf" value="([^"]+)"/.exec(page)?.[1];

/** A GET, or with `form` a form POST, with the browser's cookie; redirects are answers, not followed. */
export function uiRequest(base: string, path: string, cookie: string, form?: Record<string, string>): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: form ? "POST" : "GET",
    redirect: "manual",
    headers: { Cookie: cookie, ...(form ? { "Content-Type": "application/x-www-form-urlencoded" } : {}) },
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
  });
}
