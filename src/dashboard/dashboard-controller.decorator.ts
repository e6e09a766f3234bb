import { Controller, UseFilters, UseGuards, applyDecorators } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../common/token.guard';
import { DashboardErrorFilter } from './dashboard-error.filter';
import { SessionGuard } from './session.guard';

/**
 * A dashboard controller: outside the API's bearer token (@Public), behind the session guard
 * instead, with errors rendered as pages, and left out of the OpenAPI document.
 */
export function DashboardController(): ClassDecorator {
  return applyDecorators(Controller(), Public(), UseGuards(SessionGuard), UseFilters(DashboardErrorFilter), ApiExcludeController());
}
