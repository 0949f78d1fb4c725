/**
 * The wire shapes of the Cakemail API subset the gateway uses, written from
 * ../shared/cakemail/openapi-subset.json (SubmitEmail, TokenResponse, SendersResponse).
 * Tests validate produced bodies against that schema itself, not against these types.
 */

export type AttachmentType = 'csv' | 'doc' | 'docx' | 'calendar' | 'jpeg' | 'pdf' | 'png' | 'xls' | 'xlsx';

export interface Attachment {
  /** ^[a-zA-Z0-9-_]+\.(csv|doc|docx|ics|jpeg|pdf|png|xls|xlsx)$ */
  filename: string;
  type: AttachmentType;
  /** base64 */
  content: string;
}

export interface SubmitEmailContent {
  subject: string;
  html?: string;
  text?: string;
  encoding?: 'utf-8';
  type?: 'marketing' | 'transactional';
  /** Unused by the gateway (SMTP carries bodies, not template ids); part of the schema. */
  template?: { id: number };
  custom_attributes?: { name: string; value: string }[];
  markup?: Record<string, unknown>;
}

export interface SubmitEmail {
  email: string;
  sender: { id: string; name?: string };
  content: SubmitEmailContent;
  list_id?: number;
  contact_id?: number;
  tags?: string[];
  tracking?: { opens?: boolean; clicks_html?: boolean; clicks_text?: boolean };
  additional_headers?: { name: string; value: string }[];
  attachment?: Attachment | Attachment[];
}

export interface SubmitEmailResponse {
  email: string;
  object?: string;
  submitted?: boolean;
  data: { id: string; status: 'queued' | 'rejected' | 'error' };
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  accounts: number[];
}

export interface SenderFull {
  id: string;
  name: string;
  email: string;
  confirmed: boolean;
}

export interface SendersResponse {
  pagination: { page?: number; per_page?: number; count?: number };
  data: SenderFull[];
}
