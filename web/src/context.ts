import { createContext, useContext } from "react";
import type { Api, User } from "./lib/api";

export interface Session {
  api: Api;
  user: User;
  setUser: (user: User) => void;
  navigate: (path: string) => void;
  toast: (message: string) => void;
  /** Grows by one with every live notification: pages that show figures reload on it. */
  liveTick: number;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}
